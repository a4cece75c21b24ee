import dagster as dg


class NightlyExport(dg.Component, dg.Model, dg.Resolvable):
    """Exports a table to a CSV file every night.

    The first line above is what envboard and `dg list components` show as its summary.
    """

    table: str
    path: str = "exports/{table}.csv"

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        @dg.asset(name=f"export_{self.table}")
        def export() -> None:
            """Writes the table's rows to `path`."""

        return dg.Definitions(assets=[export])
