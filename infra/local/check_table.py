"""Fails when infra/table.json and the Table in infra/template.yaml disagree.

Compares what both define: attribute definitions, key schema, GSIs, billing
mode and the stream (the events function reads it) (run by `make lint` with the venv's python, which has PyYAML).
"""

import json
import pathlib
import sys

import yaml

INFRA = pathlib.Path(__file__).resolve().parent.parent


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that accepts CloudFormation short tags (!Ref, !Sub, ...)."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


CfnLoader.add_multi_constructor("!", _any_tag)


def normalise(props):
    def by(key):
        return lambda item: item[key]

    stream = props.get("StreamSpecification") or {}
    return {
        "AttributeDefinitions": sorted(props["AttributeDefinitions"], key=by("AttributeName")),
        "KeySchema": props["KeySchema"],
        "GlobalSecondaryIndexes": sorted(
            (
                {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
                for g in props.get("GlobalSecondaryIndexes", [])
            ),
            key=by("IndexName"),
        ),
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
        # CloudFormation has no StreamEnabled: a StreamSpecification means a stream.
        "StreamViewType": stream.get("StreamViewType") if stream.get("StreamEnabled", True) else None,
    }


def main():
    template = yaml.load((INFRA / "template.yaml").read_text(), Loader=CfnLoader)
    tables = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    if len(tables) != 1:
        sys.exit(f"expected one AWS::DynamoDB::Table in template.yaml, found {len(tables)}")
    in_template = normalise(tables[0]["Properties"])
    in_json = normalise(json.loads((INFRA / "table.json").read_text()))
    if in_template != in_json:
        for key in in_template:
            if in_template[key] != in_json[key]:
                print(f"{key} differs:\n  template.yaml: {in_template[key]}\n  table.json:    {in_json[key]}")
        sys.exit("infra/table.json and infra/template.yaml define different tables")
    print("infra/table.json matches the Table in infra/template.yaml")


if __name__ == "__main__":
    main()
