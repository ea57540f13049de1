"""Domain operations used by the REST API and the CLI."""

from nftreg.services.auth import AuthService
from nftreg.services.errors import (
                                    Conflict,
                                    Forbidden,
                                    NotFound,
                                    ServiceError,
                                    TooLarge,
                                    Unauthorized,
                                    Unavailable,
                                    Unprocessable,
)
from nftreg.services.registry import RegistryService

__all__ = [
                                    "AuthService",
                                    "Conflict",
                                    "Forbidden",
                                    "NotFound",
                                    "RegistryService",
                                    "ServiceError",
                                    "TooLarge",
                                    "Unauthorized",
                                    "Unavailable",
                                    "Unprocessable",
]
