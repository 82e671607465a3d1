"""What a user runs: the CLI (typer), its fast entry, and packaging (setup doctor, init,
images, runner image, the pytest plugin, the bench command)."""
