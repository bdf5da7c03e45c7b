from tests.security.tenants import users

__all__ = ["users"]
