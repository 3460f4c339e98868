# Matching objects to references by file name, compiled (_match.c holds its documentation).
from collections.abc import Sequence

def file_names(sources: Sequence[object], /) -> list[str | None]: ...
def image_positions(keys: Sequence[object], sources: Sequence[object], /) -> bytes: ...
def optimal_scores(
    images: int,
    labels: tuple[object, object, object, object, object, object],
    references: tuple[object, object, object, object, object, object],
    max_assignments: int,
    /,
) -> bytes: ...
