"""test-naming: the naming rules checked on their cases, and every name previewed for a registry."""

import json


from ..errors import OperationFailed
from ..util.console import Console
from .common import boundary, shared, start, task


@task(name="test-naming", help=shared("registry", "version", "layout",
                                      json="print the cases and the preview as JSON",
                                      cases="show every naming case in a table (default: one summary line)",
                                      tag_latest="also preview the latest refs (as build/push --tag-latest would "
                                                 "make)"))
@boundary
def test_naming(c, registry=None, version=None, layout=None, json_=False, cases_=False, tag_latest=False):
    """Check the naming rules on the seed's cases and preview every image name for a registry."""
    from ..naming_cases import CASES, passed, preview, report, run_case

    cases = [(case, run_case(case)) for case in CASES]
    settings = start(c).settings(Console().warn, registry=registry, version=version, layout=layout,
                                 tag_latest=tag_latest or None)
    names = preview(settings)
    failures = [case for case, actual in cases if not passed(case, actual)]
    if json_:
        print(json.dumps({
            "cases": [{"case": case.label, "registry": case.registry, "input": case.name, "version": case.version,
                       "layout": case.layout, "expected": case.expected, "actual": actual,
                       "passed": passed(case, actual)} for case, actual in cases],
            "preview": names,
        }, indent=2))
    else:
        report(cases, names, show_cases=cases_ or bool(failures))
    if failures:
        raise OperationFailed(f"{len(failures)} of {len(cases)} naming case(s) failed")
