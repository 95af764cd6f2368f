"""A problem noted while reading, kept with the result instead of stopping the read.

Every finding and anomaly code has one severity, declared here and nowhere else
(:data:`SEVERITY`; docs/report-schema.md says what ``info``, ``warning`` and ``error``
mean and that ``--strict`` fails on the last two). A code not listed is a ``warning``: an
unknown condition is unusual by definition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ANOMALY_CODES", "Finding", "SEVERITIES", "SEVERITY", "severity_of", "above_info"]

SEVERITIES = ("info", "warning", "error")
# The history BLOB's anomaly codes (``history.ANOMALY_CODES``): warnings but ``truncated``.
ANOMALY_CODES = (
    "bad_version",
    "count_mismatch",
    "truncated",
    "trailing_data",
    "bad_operation",
    "bad_content",
    "bad_timestamp",
    "bad_uid_escape",
    "invalid_utf8",
    "duplicate_uid",
    "uid_not_rfc1939",
)

_INFO = (
    "no_history_attachment",  # a Message Manager with no history: an account never used
    "older_mail_untagged",  # what Outlook's pruning leaves (a reset would look the same)
)
_ERROR = (
    # history BLOB
    "truncated",
    "history_without_data",
    # store file, pages, blocks, trees: the structure was not used, its data is lost
    "file_truncated",
    "store_unreadable",
    "store_properties_missing",
    "unreadable",
    "page_out_of_bounds",
    "page_bad_trailer",
    "page_type_mismatch",
    "page_bid_mismatch",
    "page_level_mismatch",
    "page_bad_counts",
    "block_not_found",
    "block_out_of_bounds",
    "block_bid_mismatch",
    "block_size_mismatch",
    "block_inflate_failed",
    "data_tree_bad_block",
    "data_tree_size_mismatch",
    "subnode_bad_block",
    "subnode_missing",
    "heap_missing",
    "heap_bad_signature",
    "heap_bad_hid",
    "pc_wrong_client",
    "pc_bad_bth",
    "pc_bad_value",
    "tc_wrong_client",
    "tc_bad_info",
    "tc_bad_row_index",
    "tc_bad_cell",
    "tc_row_out_of_range",
    "folder_table_missing",
    "folder_row_node_missing",
    # MSG files
    "missing_property_stream",
    "missing_value_stream",
    "truncated_stream",
    "stream_beyond_file",
    "embedded_missing",
)
# Every other documented code (tests/test_finding_codes.py checks the list against docs/).
_WARNING = (
    "clock_mismatch",  # the history's times fit the store only at an offset other than UTC
    # audit cause findings: a likely cause, with alternatives (audit/alternatives.py)
    "history_reset",
    "multiple_managers",
    "same_uid_in_two_histories",
    "uid_scheme_change",
    "get_without_delete",
    "blob_anomaly",
    "history_missing",
    # history BLOB and server listings: read around
    *(code for code in ANOMALY_CODES if code != "truncated"),
    "server_error",
    "bad_line",
    "bad_numbering",
    "hex_length_mismatch",
    # store file, pages, blocks, trees, heaps: checked and still used, or a bound reached
    "header_crc_mismatch",
    "header_bad_sentinel",
    "file_size_mismatch",
    "page_crc_mismatch",
    "page_sig_mismatch",
    "btree_key_order",
    "btree_cycle",
    "btree_too_deep",
    "block_crc_mismatch",
    "block_sig_mismatch",
    "data_tree_cycle",
    "subnode_cycle",
    "heap_bad_page_map",
    "bth_bad_header",
    "bth_too_deep",
    "bth_cycle",
    "bth_bad_record",
    "tc_too_many_rows",
    "folder_row_parent_mismatch",
    "folder_row_duplicate",
    "folder_child_unlisted",
    "folder_cycle",
    "folder_too_deep",
    "attachment_missing",
    "embedding_too_deep",
    # MSG files
    "extract_msg_rejected",
    "bad_property_stream",
    "bad_string",
    "too_many_attachments",
    "attachment_type",
    # recovery and disk images
    "amap_not_valid",
    "amap_unreadable",
    "recovery_failed",
    "image_no_file_system",
    "partition_without_file_system",
    "image_file_unreadable",
    "image_directory_unreadable",
    "deleted_files_not_listed",
)
SEVERITY: dict[str, str] = {
    **dict.fromkeys(_INFO, "info"),
    **dict.fromkeys(_WARNING, "warning"),
    **dict.fromkeys(_ERROR, "error"),
}


def severity_of(code: str) -> str:
    """The severity of a finding or anomaly code (``warning`` when not listed)."""
    return SEVERITY.get(code, "warning")


@dataclass(frozen=True, slots=True)
class Finding:
    """An anomaly or integrity problem: a stable ``code``, where it is, and what was seen.

    ``offset`` is a byte offset: into the BLOB for history anomalies, into the file for
    store structures (``None`` when the position is unknown).
    """

    code: str
    offset: int | None
    detail: str

    @property
    def severity(self) -> str:
        return severity_of(self.code)

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity,
            "offset": self.offset,
            "detail": self.detail,
        }


def above_info(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that ``--strict`` fails on: warnings and errors."""
    return [f for f in findings if f.severity != "info"]
