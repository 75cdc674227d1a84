"""Print the README's preset table (every value each preset sets, and where the reference configs set it).

    .venv/bin/python scripts/preset_table.py
"""

from scoredream.train.presets import preset_table

if __name__ == "__main__":
    print(preset_table(), end="")
