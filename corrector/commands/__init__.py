"""Sub-commands of the ``corrector`` CLI (see ``corrector.cli.COMMANDS``)."""
