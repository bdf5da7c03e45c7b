"""Print the reliability table (markdown) from the rows the last test run recorded."""

from __future__ import annotations

import json

from tests.faults import RESULTS


def main() -> None:
    print("| test | tried | failures | recovery | reproduce |")
    print("|---|---|---|---|---|")
    for path in sorted(RESULTS.glob("*.json")):
        row = json.loads(path.read_text())
        print(
            f"| {row['test']} | {row['tried']} | {row['failures']} | {row['recovery']} "
            f"| `{row['command']}` |"
        )


if __name__ == "__main__":
    main()
