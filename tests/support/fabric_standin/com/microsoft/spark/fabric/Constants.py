"""``com.microsoft.spark.fabric.Constants`` stand-in: the option names fabgen passes (tests only)."""


class Constants:
    DatabaseName = "fabgen.standin.databaseName"
    WorkspaceId = "fabgen.standin.workspaceId"
