from rest_framework.pagination import PageNumberPagination


class CursorlessPageNumberPagination(PageNumberPagination):
    """Every list endpoint pages: ``?page=N&page_size=M`` (M ≤ 500), with ``count``, ``next``, ``previous``."""

    page_size_query_param = "page_size"
    max_page_size = 500
