"""Command-line entry point (placeholder until the CLI lands in this issue)."""


def main() -> int:
    print("polyexec: CLI not built yet")
    return 1
