# Compiled readers of object-detection lines and box CSVs (_scan.c holds their documentation).
def scan(
    block: bytes, pos: int, attribute: bytes, /
) -> tuple[int, int, list[str], list[str], list[str], list[str], bytes, bytes, list[bytes]]: ...
def scan_csv(
    rows: bytes, fields: int, columns: tuple[int, ...], suffix: bytes = ..., /
) -> tuple[bytes, bytes, list[str], list[str]] | None: ...
