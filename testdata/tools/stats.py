# A registry tool implemented as a Python function (testdata/tools/registry.yaml).


def summarize(numbers):
    return {"mean": sum(numbers) / len(numbers), "min": min(numbers), "max": max(numbers)}
