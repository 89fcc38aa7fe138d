"""Long lists, in pages: ``?limit=&offset=`` on every list endpoint of the API, answered as
``{"items", "total", "limit", "offset"}``, ``?page=`` on the lists of the pages, and the search
every list offers (``?q=``, API and pages)."""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

PAGE_SIZE = 50
# Rows on one page of a list in the browser.
LIST_PAGE_SIZE = 25
MAX_PAGE_SIZE = 500
MAX_OFFSET = 10**9
# ``?q=``: the words a list's items must contain.
SEARCH = "Words every item found contains (in its name, any case)"


class Page(LimitOffsetPagination):
    class Input(Schema):
        limit: int = Field(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Items per page")
        # Bounded: the database's integers overflow long before a list is that long.
        offset: int = Field(
            0, ge=0, le=MAX_OFFSET, description="Items skipped: the page's first is offset + 1"
        )

    class Output(Schema):
        items: list[Any]
        total: int = Field(..., description="Items in all pages (with the filters)")
        limit: int
        offset: int

    def paginate_queryset(self, queryset: QuerySet, pagination: Input, request, **params):
        limit, offset = pagination.limit, pagination.offset
        return {
            "items": queryset[offset : offset + limit],
            "total": self._items_count(queryset),
            "limit": limit,
            "offset": offset,
        }


def search(queryset: QuerySet, text: str, *fields: str) -> QuerySet:
    """The rows whose ``fields`` contain every word of ``text`` (any case)."""
    for word in text.split():
        queryset = queryset.filter(reduce(or_, (Q(**{f"{f}__icontains": word}) for f in fields)))
    return queryset


def listing(request, queryset: QuerySet, *fields: str) -> dict:
    """A page's list context: the page asked for (``?page=``) of the rows whose ``fields``
    contain the words searched (``?q=``), and the words."""
    query = request.GET.get("q", "").strip()
    found = search(queryset, query, *fields)
    return {"page": Paginator(found, LIST_PAGE_SIZE).get_page(request.GET.get("page")),
            "query": query}  # fmt: skip
