# The compiled reader of object-detection lines (_scan.c holds its documentation).
def scan(
    block: bytes, pos: int, attribute: bytes, /
) -> tuple[int, int, list[str], list[str], list[str], list[str], bytes, bytes, list[bytes]]: ...
