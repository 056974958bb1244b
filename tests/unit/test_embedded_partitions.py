"""The embedded server's task queue partitions: one for a new database, and whatever an existing
database was made with (tasks in partitions the server no longer reads would never run).
Building the command reads only; ``record_partitions`` (which ``start`` calls) writes."""

from pathlib import Path

from starter.embedded import PARTITIONS_FILE, EmbeddedServer


def partition_flags(command: list[str]) -> dict[str, str]:
    values = [command[i + 1] for i, arg in enumerate(command) if arg == "--dynamic-config-value"]
    return dict(value.split("=", 1) for value in values if "Partitions" in value)


def test_a_new_database_gets_one_partition_and_records_it(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "data", "127.0.0.1", 7233, ui=False)

    flags = partition_flags(server.command())
    assert not (tmp_path / "data" / PARTITIONS_FILE).exists()  # building a command writes nothing
    server.record_partitions()

    assert flags == {
        "matching.numTaskqueueReadPartitions": "1",
        "matching.numTaskqueueWritePartitions": "1",
    }
    assert (tmp_path / "data" / PARTITIONS_FILE).read_text().strip() == "1"


def test_a_database_from_before_the_setting_keeps_the_servers_four(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path, "127.0.0.1", 7233, ui=False, task_queue_partitions=1)
    server.db_path.write_bytes(b"")  # made by an earlier version, which recorded nothing

    server.record_partitions()
    flags = partition_flags(server.command())

    assert set(flags.values()) == {"4"}
    assert not (tmp_path / PARTITIONS_FILE).exists()


def test_the_recorded_count_wins_over_a_request(tmp_path: Path) -> None:
    EmbeddedServer(
        tmp_path, "127.0.0.1", 7233, ui=False, task_queue_partitions=4
    ).record_partitions()
    (tmp_path / "temporal.sqlite").write_bytes(b"")

    again = EmbeddedServer(tmp_path, "127.0.0.1", 7233, ui=False, task_queue_partitions=1)

    assert set(partition_flags(again.command()).values()) == {"4"}


def test_recording_twice_keeps_the_first_count(tmp_path: Path) -> None:
    EmbeddedServer(
        tmp_path, "127.0.0.1", 7233, ui=False, task_queue_partitions=1
    ).record_partitions()

    EmbeddedServer(
        tmp_path, "127.0.0.1", 7233, ui=False, task_queue_partitions=4
    ).record_partitions()

    assert (tmp_path / PARTITIONS_FILE).read_text().strip() == "1"


def test_an_unreadable_record_next_to_a_new_database_is_written_again(tmp_path: Path) -> None:
    (tmp_path / PARTITIONS_FILE).write_text("garbled\n")
    server = EmbeddedServer(tmp_path, "127.0.0.1", 7233, ui=False, task_queue_partitions=1)

    server.record_partitions()

    assert (tmp_path / PARTITIONS_FILE).read_text().strip() == "1"
    assert set(partition_flags(server.command()).values()) == {"1"}
