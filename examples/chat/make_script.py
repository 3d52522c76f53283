"""Writes the scripted model's side of the demo session (JSON Lines, see kiln/llm/script.h) to stdout.

The 'model' uploads sales.csv with write_file, loads it with pandas, describes it, and draws a chart; each
tool call is answered by Kiln from a real sandbox, and the scripted replies after them read as a model's.
"""
import json
import pathlib
import sys

csv = (pathlib.Path(__file__).parent / "sales.csv").read_text()
load = "import pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(df.shape)\ndf.head()"
describe = "df.groupby('region')[['units', 'revenue']].describe().T"
chart = (
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
    "ax = df.pivot(index='month', columns='region', values='revenue').plot(kind='bar', figsize=(7, 4))\n"
    "ax.set_ylabel('revenue (USD)')\nplt.tight_layout()\nplt.show()"
)


def call(i, name, **arguments):
    return {"id": f"call_{i}", "name": name, "arguments": arguments}


replies = [
    {"text": "I'll put the file in the sandbox and load it.",
     "tool_calls": [call(1, "write_file", path="sales.csv", content=csv), call(2, "run_python", code=load)]},
    {"text": "Loaded sales.csv: 12 rows (six months, two regions) with units and revenue."},
    {"tool_calls": [call(3, "run_python", code=describe)]},
    {"text": "North sells more every month; revenue per unit is 120 USD in the north and 116 in the south."},
    {"tool_calls": [call(4, "run_python", code=chart)]},
    {"text": "Here is revenue by month and region as a bar chart (saved above)."},
]
for r in replies:
    sys.stdout.write(json.dumps(r) + "\n")
