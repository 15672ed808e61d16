"""``ConversionError``: the converter cannot produce a faithful file (its report says why)."""

__all__ = ["ConversionError"]


class ConversionError(RuntimeError):
    """The conversion cannot produce a faithful file; carries the report (may be None)."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report
