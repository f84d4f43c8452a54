"""Compose's interpolation and .env rules, checked against compose-go's own test tables.

The cases below are compose-go v2's (``template/template_test.go``, ``dotenv/godotenv_test.go``,
``dotenv/parser_test.go``), with their test names, so that a difference from compose shows here first.
"""

import pytest

from acrtasks.compose import dotenv
from acrtasks.compose.project import check_templates, compose_images, environment
from acrtasks.compose.template import (
    MissingRequired,
    TemplateError,
    substitute,
    variables,
)
from acrtasks.errors import ConfigError, UsageError
from acrtasks.util.inputs import compose_yaml

# template_test.go: var defaults = {"FOO": "first", "BAR": ""}
DEFAULTS = {"FOO": "first", "BAR": ""}


def sub(template, env=DEFAULTS):
    return substitute(template, env.get)


@pytest.mark.parametrize("template, expected", [
    ("$${foo}", "${foo}"),  # TestEscaped
    ("foo", "foo"),  # TestSubstituteNoMatch
    ("a $ string", "a $ string"), ("^REGEX$", "^REGEX$"), ("$}", "$}"), ("$", "$"),  # TestUnescaped
    ("$FOO-bar", "first-bar"),  # TestNonBraced
    ("This ${missing} var", "This  var"), ("This ${BAR} var", "This  var"),  # TestNoValueNoDefault
    ("This $FOO var", "This first var"), ("This ${FOO} var", "This first var"),  # TestValueNoDefault
    ("ok ${missing:-def}", "ok def"), ("ok ${missing-def}", "ok def"),  # TestNoValueWithDefault
    ("ok ${BAR:-def}", "ok def"),  # TestEmptyValueWithSoftDefault
    ("ok ${FOO:-def}", "ok first"),  # TestValueWithSoftDefault
    ("ok ${BAR-def}", "ok "),  # TestEmptyValueWithHardDefault
    ("ok ${UNSET_VAR:+presence_value}", "ok "), ("ok ${UNSET_VAR+presence_value}", "ok "),
    ("ok ${FOO:+presence_value}", "ok presence_value"), ("ok ${FOO+presence_value}", "ok presence_value"),
    ("ok ${BAR+presence_value}", "ok presence_value"), ("ok ${BAR:+presence_value}", "ok "),
    ("ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric"),  # TestNonAlphanumericDefault
    # TestInterpolationExternalInterference
    ("-ok ${BAR:-defaultValue}", "-ok defaultValue"), ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
    ("-ok ${FOO:-defaultValue}", "-ok first"), (":-ok ${UNSET-defaultValue}", ":-ok defaultValue"),
    (":-ok ${BAR-defaultValue}", ":-ok "), (":?ok ${BAR-defaultValue}", ":?ok "),
    (":?ok ${BAR:-defaultValue}", ":?ok defaultValue"), (":+ok ${BAR:-defaultValue}", ":+ok defaultValue"),
    ("+ok ${BAR-defaultValue}", "+ok "), ("?ok ${BAR:-defaultValue}", "?ok defaultValue"),
    # TestDefaultsWithNestedExpansion
    ("ok ${UNSET_VAR-$FOO}", "ok first"), ("ok ${UNSET_VAR-${FOO}}", "ok first"),
    ("ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first"), ("ok ${BAR:-$FOO}", "ok first"),
    ("ok ${BAR:-${FOO}}", "ok first"), ("ok ${BAR:-${FOO} ${FOO}}", "ok first first"),
    ("ok ${BAR+$FOO}", "ok first"), ("ok ${BAR+$FOO ${FOO:+second}}", "ok first second"),
    # TestDefaultsForMandatoryVariables
    ("ok ${FOO:?err}", "ok first"), ("ok ${FOO?err}", "ok first"), ("ok ${BAR?err}", "ok "),
    # TestPrecedence
    ("${UNSET_VAR-myerror?msg}", "myerror?msg"), ("${FOO?bar-baz}", "first"),
    ("${BAR:-default_value_for_empty_var}", "default_value_for_empty_var"),
    ("${UNSET_VAR-default_value_for_unset_var}", "default_value_for_unset_var"),
    # the shapes: nested defaults and two expressions in one value
    ("img:${A:-${B:-v1}}", "img:v1"), ("${R:-reg}/app:${T:-v2}", "reg/app:v2"),
])
def test_substitute(template, expected):
    assert sub(template) == expected


@pytest.mark.parametrize("template", ["${", "${}", "${ }", "${ foo}", "${foo }", "${foo!}"])  # TestInvalid
def test_invalid_templates(template):
    with pytest.raises(TemplateError):
        sub(template)
    with pytest.raises(TemplateError):
        variables(template)


@pytest.mark.parametrize("template, message", [  # TestMandatoryVariableErrors(+WithNestedExpansion), TestPrecedence
    ("not ok ${UNSET_VAR:?Mandatory Variable Unset}",
     "required variable UNSET_VAR is missing a value: Mandatory Variable Unset"),
    ("not ok ${BAR:?Mandatory Variable Empty}", "required variable BAR is missing a value: Mandatory Variable Empty"),
    ("not ok ${UNSET_VAR:?}", "required variable UNSET_VAR is missing a value"),
    ("not ok ${UNSET_VAR?Mandatory Variable Unset}",
     "required variable UNSET_VAR is missing a value: Mandatory Variable Unset"),
    ("not ok ${UNSET_VAR?}", "required variable UNSET_VAR is missing a value"),
    ("not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}", "required variable UNSET_VAR is missing a value: "
     "Mandatory Variable first"),
    ("${UNSET_VAR?bar-baz}", "required variable UNSET_VAR is missing a value: bar-baz"),
])
def test_missing_required(template, message):
    with pytest.raises(MissingRequired, match="^" + message.replace("?", r"\?") + "$"):
        sub(template)


def test_defaults_are_resolved_only_when_used():
    assert sub("${FOO:-${NOPE:?never asked}}") == "first"  # compose-go v2.13: lazy defaults


def test_unset_variables_are_reported():
    missing = []
    assert substitute("redis:${TAG}", {}.get, missing.append) == "redis:"
    assert missing == ["TAG"]


def test_variables_spans():
    value = "reg/${NS:-x}/app:${TAG:-${DEF:-v1}}$$"
    spans = variables(value)
    assert [value[s:e] for s, e, _ in spans] == ["${NS:-x}", "${TAG:-${DEF:-v1}}"]
    assert [name for _s, _e, name in spans] == ["NS", "TAG"]
    assert variables("a$$b") == []


def parse(text, lookup=None):
    return dotenv.parse(text, lookup)[0]


@pytest.mark.parametrize("line, key, value", [  # godotenv_test.go: TestParsing
    ("FOO=bar", "FOO", "bar"), ("FOO =bar", "FOO", "bar"), ("FOO= bar", "FOO", "bar"),
    ('FOO="bar"', "FOO", "bar"), ("FOO='bar'", "FOO", "bar"),
    ('FOO="escaped\\"bar"', "FOO", 'escaped"bar'), ('FOO="\\"quoted\\""', "FOO", '"quoted"'),
    ("FOO=\"'d'\"", "FOO", "'d'"),
    ("OPTION_A: 1", "OPTION_A", "1"), ("OPTION_A: Foo=bar", "OPTION_A", "Foo=bar"),
    ("OPTION_A=1:B", "OPTION_A", "1:B"),
    ("export OPTION_A=2", "OPTION_A", "2"), ("export OPTION_B='\\n'", "OPTION_B", "\\n"),
    ("export exportFoo=2", "exportFoo", "2"), ("exportFOO=2", "exportFOO", "2"),
    ("export_FOO =2", "export_FOO", "2"), ("export.FOO= 2", "export.FOO", "2"),
    ("export\tOPTION_A=2", "OPTION_A", "2"), ("  export OPTION_A=2", "OPTION_A", "2"),
    ('export OPTION_A="export A"', "OPTION_A", "export A"),
    ('FOO="bar\\nbaz"', "FOO", "bar\nbaz"), ("FOO=a\\tb", "FOO", "a\\tb"), ('FOO="a\\tb"', "FOO", "a\tb"),
    ('KEY="Z\\aZ\\bZ\\fZ\\nZ\\rZ\\tZ\\vZ\\\\Z\\0123Z"', "KEY", "Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\ZSZ"),
    ("FOO.BAR=foobar", "FOO.BAR", "foobar"), ("FOO=foobar=", "FOO", "foobar="), ("FOO=bar ", "FOO", "bar"),
    ("FOO=bar # this is foo", "FOO", "bar"), ("FOO=bar #this is foo", "FOO", "bar"), ("FOO=bar #", "FOO", "bar"),
    ("FOO=123#not-an-inline-comment", "FOO", "123#not-an-inline-comment"),
    ('FOO="bar#baz"', "FOO", "bar#baz"), ('FOO="bar#baz"#', "FOO", "bar#baz"),
    ('FOO="bar#baz" # comment', "FOO", "bar#baz"), ("FOO='bar#baz' # comment", "FOO", "bar#baz"),
    ('FOO="bar#baz#bang" # comment', "FOO", "bar#baz#bang"), ('FOO="ba#r"', "FOO", "ba#r"), ("FOO='ba#r'", "FOO", "ba#r"),
    ('FOO="bar\\n\\ b\\az"', "FOO", "bar\n\\ b\az"), ('FOO="bar\\\\\\n\\ b\\az"', "FOO", "bar\\\n\\ b\az"),
    ('FOO="bar\\\\r\\ b\\az"', "FOO", "bar\\r\\ b\az"), ('FOO="bar\\nbaz\\\\"', "FOO", "bar\nbaz\\"),
    ('="value"', "", "value"), (" KEY =value", "KEY", "value"), ("   KEY=value", "KEY", "value"),
    ("\tKEY=value", "KEY", "value"), ('KEY="\\0123"', "KEY", "S"),
    ('KEY="\\x07"', "KEY", "\\x07"), ('KEY="\\u12e4"', "KEY", "\\u12e4"),
    ("VAR-WITH-DASHES=dashes", "VAR-WITH-DASHES", "dashes"),  # TestDash
])
def test_dotenv_parsing(line, key, value):
    assert parse(line)[key] == value


@pytest.mark.parametrize("text, expected", [  # TestExpanding
    ("FOO=test\nBAR=$FOO", {"FOO": "test", "BAR": "test"}),
    ("FOO=test\nBAR=${FOO}bar", {"FOO": "test", "BAR": "testbar"}),
    ("BAR=$FOO", {"BAR": ""}),
    ('FOO=test\nBAR="quote $FOO"', {"FOO": "test", "BAR": "quote test"}),
    ("BAR='quote $FOO'", {"BAR": "quote $FOO"}),
    ('FOO="foo\\$BAR"', {"FOO": "foo$BAR"}), ('FOO="foo\\${BAR}"', {"FOO": "foo${BAR}"}),
    ('FOO=test\nBAR="foo\\${FOO} ${FOO}"', {"FOO": "test", "BAR": "foo${FOO} test"}),
    ('TEST_URLS="stratum+tcp://a:3333\nstratum+tcp://b:443"', {"TEST_URLS": "stratum+tcp://a:3333\nstratum+tcp://b:443"}),
    ("ONE=1\nTWO='2'\nTHREE = \"3\"", {"ONE": "1", "TWO": "2", "THREE": "3"}),  # TestParse
    ("OPTION_A=1\nOPTION_B=2\n\n# comment\n\t # indented\r\nOPTION_C=3", {"OPTION_A": "1", "OPTION_B": "2", "OPTION_C": "3"}),
])
def test_dotenv_expanding(text, expected):
    assert parse(text) == expected


# fixtures/substitutions.env, read with the process environment as the lookup
SUBSTITUTIONS = "OPTION_A=1\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n"


def test_dotenv_substitutions_lookup_first():
    assert parse(SUBSTITUTIONS) == {"OPTION_A": "1", "OPTION_B": "1", "OPTION_C": "1", "OPTION_D": "1_1", "OPTION_E": ""}
    # TestSubstitutionsWithEnvFilePrecedence: the process environment wins inside the file's own expansions
    assert parse(SUBSTITUTIONS, {"OPTION_A": "5"}.get) == {
        "OPTION_A": "1", "OPTION_B": "5", "OPTION_C": "5", "OPTION_D": "5_5", "OPTION_E": ""}


def test_dotenv_inherited_keys():
    assert parse("VAR_FROM_OS\nfoo=bar\n", {"VAR_FROM_OS": "x"}.get) == {"VAR_FROM_OS": "x", "foo": "bar"}
    assert parse("VARIABLE_NOT_FOUND\n") == {}  # TestInheritedEnvVariableNotFound


@pytest.mark.parametrize("text", ['KEY="', 'KEY="value', 'KEY="value\\"', "KEY=\"value'", "KEY='", "KEY='value",
                                  "KEY='value\\'", "KEY='value\""])  # TestUnterminatedQuotes
def test_dotenv_unterminated(text):
    with pytest.raises(dotenv.DotenvError, match="unterminated quoted value"):
        parse(text)


def test_dotenv_errors_name_the_line():
    with pytest.raises(dotenv.DotenvError, match="line 3: key cannot contain a space"):
        parse("A=1\n# c\nBAD KEY=2\n")
    with pytest.raises(dotenv.DotenvError, match="line 1: unexpected character '\\$' in variable name"):
        parse("lol$wut")


def test_dotenv_bom_and_spans():
    text = "\ufeffA=1\nIMG=\"reg/app:v1\" # c\nB='x'\n"
    values, entries = dotenv.parse(text)
    assert values == {"A": "1", "IMG": "reg/app:v1", "B": "x"}
    assert [(e.key, e.raw(text), e.quote, e.line) for e in entries] == [
        ("A", "1", "", 1), ("IMG", "reg/app:v1", '"', 2), ("B", "x", "'", 3)]


def test_dotenv_multiline_double_quotes():
    values, entries = dotenv.parse('CERT="line1\nline2"\nNEXT=1\n')
    assert values == {"CERT": "line1\nline2", "NEXT": "1"}
    assert entries[1].line == 3


def test_environment_order(tmp_path):
    (tmp_path / ".env").write_text("REGISTRY=dotenv.example\nBASE=${REGISTRY}/x\nTAG: v1\n")
    env = environment(tmp_path, {"REGISTRY": "proc.example"})
    assert env.values["REGISTRY"] == "proc.example"  # the process environment wins
    assert env.values["BASE"] == "proc.example/x"  # also inside the .env's own expansions
    assert env.values["TAG"] == "v1"  # KEY: value lines
    assert env.dotenv["REGISTRY"] == "dotenv.example"


def test_environment_bad_dotenv(tmp_path):
    (tmp_path / ".env").write_text("OK=1\nBAD KEY=2\n")
    with pytest.raises(UsageError, match=r"\.env: line 2: key cannot contain a space"):
        environment(tmp_path, {})


def test_check_templates_names_the_line(tmp_path):
    text = "services:\n  db:\n    image: postgres:15\n    environment:\n      - PASSWORD=${ oops}\n"
    with pytest.raises(UsageError, match=r"compose.yaml:5: .*not a valid interpolation template"):
        check_templates(compose_yaml(text, tmp_path / "compose.yaml", "x")[0], tmp_path / "compose.yaml")


def test_compose_images_follow_compose(tmp_path):
    (tmp_path / ".env").write_text('PG_TAG="15-alpine"\nREDIS=redis\n')
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n"
                       "  db: {image: 'postgres:${PG_TAG}'}\n"
                       "  cache: {image: '${REDIS}:${REDIS_TAG:-${FALLBACK:-7}}'}\n"
                       "  app: {image: 'ai-infra-backend:v1'}\n"
                       "  strict: {image: 'minio/minio:${MINIO_TAG:?set MINIO_TAG}'}\n")
    images, problems = compose_images(compose, "ai-infra-", {})
    assert images == ["postgres:15-alpine", "redis:7"]
    assert len(problems) == 1 and "compose.yaml:5" in problems[0] and "MINIO_TAG" in problems[0]
    compose.write_text("services:\n  db: {image: 'postgres:${'}\n")
    with pytest.raises(ConfigError, match="compose.yaml:2"):
        compose_images(compose, "ai-infra-", {})
