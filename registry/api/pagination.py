from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination


class Pagination(CursorPagination):
    """Cursor pages, newest first. A page costs the same at any depth (no OFFSET) and needs no
    COUNT(*) over everything the actor may see; paging never skips or repeats rows while others
    write. Follow `next` until it is null."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def decode_cursor(self, request: Any) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound:  # DRF's answer to a mangled cursor; it is bad input, not a missing object
            raise ValidationError({"cursor": ["invalid cursor; follow the `next` link of the previous page"]}) from None

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> tuple[str, ...]:
        ordering = getattr(view, "cursor_ordering", self.ordering)
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)
