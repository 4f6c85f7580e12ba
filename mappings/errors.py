class MappingError(ValueError):
    """A platform payload could not be turned into ERC models.

    `path` names the failing field (``data.meta.display_price.with_tax.amount``) so the
    log says exactly what the platform sent that we could not read.
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message
