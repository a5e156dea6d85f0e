"""The local web dashboard: pages, a JSON API and vendored assets, on a brapped store."""

from brapped.web.app import app_for_host, create_app
from brapped.web.security import UnsafeBind, check_bind, is_loopback

__all__ = ["UnsafeBind", "app_for_host", "check_bind", "create_app", "is_loopback"]
