"""Chat templates judged on jinja2's syntax tree: real templates clean, SSTI payloads caught.

Every carrier a template travels in is exercised: GGUF metadata (``tokenizer.chat_template`` and
the named ``tokenizer.chat_template.<name>``), ``tokenizer_config.json`` (string, list of
``{name, template}`` and mapping forms), ``chat_template.json`` and standalone ``.jinja`` files.
"""

from __future__ import annotations

import json
import pathlib
import sys
from collections.abc import Callable

import pytest
import scanner_builders as B
from conftest import threats_of

from modelsec.scanner.jinja import analyse_template

DATA = pathlib.Path(__file__).parent / "data" / "templates"
REAL = sorted(p.name for p in DATA.glob("*.jinja"))
THREAT = "PAIT-GGUF-101"

# The six real llama.cpp templates the regex scanner flagged for words in their text.
FLAGGED_BEFORE = {
    "Mistral-Small-3.2-24B-Instruct-2506.jinja",
    "ibm-granite-granite-3.3-2B-Instruct.jinja",
    "ibm-granite-granite-4.0.jinja",
    "ibm-granite-granite-4.1.jinja",
    "mistralai-Ministral-3-14B-Reasoning-2512.jinja",
    "muse-glimmer.jinja",
}

MALICIOUS = {
    "cycler_globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "mro_subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "attr_concat": "{{ ''|attr(('_'*2) ~ 'class' ~ ('_'*2)) }}",
    "attr_escaped": "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "attr_from_data": "{{ ''|attr(messages[0].content) }}",
    "item_concat": "{{ ''[('_'*2) ~ 'class' ~ ('_'*2)] }}",
    "item_reverse": "{{ ''['__ssalc__'|reverse] }}",
    "item_format_filter": "{{ ''['%sclass%s'|format('__', '__')] }}",
    "item_join": "{{ ''[['_', '_', 'class', '_', '_']|join] }}",
    "item_replace": "{{ ''['XXclassXX'|replace('X', '_')] }}",
    "item_slice": "{{ ''['..__class__..'[2:-2]] }}",
    "item_lower_filter": "{{ ''['__CLASS__'|lower] }}",
    "item_lower_method": "{{ ''['__CLASS__'.lower()] }}",
    "item_escaped_key": "{{ ''['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "set_variable": "{% set k = '__cla' ~ 'ss__' %}{{ ''[k] }}",
    "set_block": "{% set k %}__class__{% endset %}{{ ''[k] }}",
    "namespace_attr": "{% set ns = namespace(k='__glob' ~ 'als__') %}{{ lipsum[ns.k] }}",
    "namespace_loop": "{% set ns = namespace(k='') %}{% for c in ['__', 'class', '__'] %}"
    "{% set ns.k = ns.k ~ c %}{% endfor %}{{ ''[ns.k] }}",
    "macro_param": "{% macro get(o, k) %}{{ o[k] }}{% endmacro %}{{ get('', '__class__') }}",
    "for_literal": "{% for k in ['__class__'] %}{{ ''[k] }}{% endfor %}",
    "dict_lookup": "{% set d = {'a': '__class__'} %}{{ ''[d['a']] }}",
    "string_hides_var_end": "{{ 'x }}' }}{{ ''.__class__ }}",
    "string_hides_stmt_end": "{% set a = '%}' %}{{ ''.__class__ }}",
    "comment_hides": "{# }} #}{{ ''.__class__ }}",
    "raw_then_escape": "{% raw %}{{ x }}{% endraw %}{{ ''.__class__ }}",
    "lipsum_globals": "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "range_init": "{{ range.__init__ }}",
    "self_context": "{{ self._TemplateReference__context }}",
    "joiner_inside": "{{ joiner.x }}",
    "cycler_subscript": "{{ cycler['__init__'] }}",
    "request_app": "{{ request.application.__globals__ }}",
    "generator_frame": "{% set g = range(1)|map('string') %}{{ g.gi_frame.f_globals }}",
    "mro_method": "{{ ''.__class__.mro() }}",
    "map_attribute": "{{ messages|map(attribute='__class__')|list }}",
    "selectattr": "{{ messages|selectattr('__class__')|list }}",
    "map_attr_filter": "{{ messages|map('attr', '__class__')|list }}",
    "item_format_method": "{{ ''['{}{}'.format('__cla', 'ss__')] }}",
    "item_join_method": "{{ ''[''.join(['__cla', 'ss__'])] }}",
    "format_method": "{{ '{0.__class__.__mro__}'.format('') }}",
    "format_computed": "{{ messages[0]['content'].format('') }}",
    "nsref_internal": "{% set ns = namespace(a=1) %}{% set ns.__class__ = 1 %}",
    "dict_keys_join": "{{ ''[dict(__cla=1, ss__=1)|join] }}",
    "dict_literal_first": "{{ ''[{'__class__': 1}|first] }}",
    "join_attribute": "{{ messages|join(',', attribute='__class__') }}",
    "joiner_returns": "{% set j = joiner('__class__') %}{{ ''[j()] }}",
    "loop_cycle": "{% for m in messages %}{{ m[loop.cycle('__class__', 'role')] }}{% endfor %}",
    "format_filter_chars": "{{ ''['%c%cclass%c%c'|format(95, 95, 95, 95)] }}",
    "adjacent_strings": "{{ ''['__cla' 'ss__'] }}",
    "filter_block_attr": "{% filter attr('__class__') %}x{% endfilter %}",
    "for_unpacking": "{% for a, b in [('__class__', 1)] %}{{ ''[a] }}{% endfor %}",
    "set_unpacking": "{% set a, b = '__class__', 1 %}{{ ''[a] }}",
    "macro_varargs": "{% macro m() %}{{ ''[varargs[0]] }}{% endmacro %}{{ m('__class__') }}",
    "macro_kwargs": "{% macro m() %}{{ ''[kwargs.k] }}{% endmacro %}{{ m(k='__class__') }}",
    "mapping_attribute": "{% set d = {'k': '__class__'} %}{{ ''[d.k] }}",
    # No template text at all: characters cut out of object reprs, then put together.
    "repr_chars_plus": "{% set s = lipsum|string %}{{ ''[s[18] + s[18] + s[3] + s[9]] }}",
    "repr_chars_join": "{% set s = namespace|string %}{{ ''[[s[1], s[2], s[3]]|join] }}",
    "data_chars_concat": "{{ ''[messages[0].content[0] ~ messages[0].content[1]] }}",
    "include": "{% include 'other.jinja' %}",
    "import": "{% import 'macros.jinja' as m %}{{ m.x() }}",
    "from_import": "{% from 'macros.jinja' import x %}{{ x() }}",
    "extends": "{% extends 'base.jinja' %}",
}

# Plain templates with the words and shapes the regex scanner mistook for escapes.
BENIGN = {
    "words_in_text": "You help with any request. Think for yourself. system (default)\n"
    "{% for m in messages %}{{ m['content'] }}{% endfor %}",
    "words_in_strings": "{{ 'request self config lipsum __class__ popen(' }}",
    "namespace_counter": "{% set ns = namespace(i=0, last='') %}{% for m in messages %}"
    "{% set ns.i = ns.i + 1 %}{% set ns.last = m.role %}{% endfor %}{{ messages[ns.i - 1] }}",
    "keys_from_data": "{% for k, v in tools[0].items() %}{{ tools[0][k] }}{% endfor %}"
    "{% for key in ['type', 'description'] %}{{ param[key] }}{% endfor %}",
    "format_literal": "{{ '<tool_call{}>'.format(suffix) }}",
    "underscore_variable": "{% set _n = messages|length %}{{ messages[_n - 1]['content'] }}",
    "join_separator_underscore": "{{ ['a', 'b']|join('_') }}{{ messages|map(attribute='role')|join('__') }}",
    "selectattr_value_underscore": "{{ messages|selectattr('role', 'equalto', '_internal')|list }}",
    "role_map": "{% set names = {'user': 'U', 'assistant': 'A'} %}{{ names[messages[0].role] }}",
    "data_extraction_key": "{% for t in tools %}{{ docs[t.name.split('.')[0]|lower] }}{% endfor %}",
    "mapping_items": "{% macro f(spec) %}{{ types[spec.type] }}{{ f(spec|items) }}{% endmacro %}"
    "{{ f({'type': t}) }}",
    "generation_tag": "{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}"
    "{% if loop.last %}{% break %}{% endif %}{% endfor %}",
}


def _carriers(template: str) -> dict[str, dict[str, bytes]]:
    return {
        "gguf": {
            "m.gguf": B.gguf({"general.architecture": "llama", "tokenizer.chat_template": template})
        },
        "gguf_named": {
            "m.gguf": B.gguf(
                {
                    "tokenizer.chat_template": "{{ messages[0]['content'] }}",
                    "tokenizer.chat_templates": ["tool_use"],
                    "tokenizer.chat_template.tool_use": template,
                }
            )
        },
        "tokenizer_config_string": {
            "tokenizer_config.json": json.dumps({"chat_template": template}).encode()
        },
        "tokenizer_config_list": {
            "tokenizer_config.json": json.dumps(
                {
                    "chat_template": [
                        {"name": "default", "template": "{{ messages[0]['content'] }}"},
                        {"name": "tool_use", "template": template},
                    ]
                }
            ).encode()
        },
        "chat_template_json": {
            "chat_template.json": json.dumps({"chat_template": template}).encode()
        },
        "jinja_file": {"chat_template.jinja": template.encode()},
    }


CARRIERS = sorted(_carriers(""))


def _clean(details) -> None:  # type: ignore[no-untyped-def]
    for f in details.files:
        assert f.issues_detected == [], (f.file_path, f.issues_detected)
        assert f.error_message is None, (f.file_path, f.error_message)
        assert f.modelscan_status == "SCANNED", f.file_path


class TestRealTemplatesClean:
    def test_fixture_set(self) -> None:
        assert len(REAL) >= 10
        assert set(REAL) >= FLAGGED_BEFORE

    @pytest.mark.parametrize("name", REAL)
    @pytest.mark.parametrize("carrier", CARRIERS)
    def test_clean(self, scan_files: Callable[..., object], name: str, carrier: str) -> None:
        template = (DATA / name).read_text(encoding="utf-8")
        _clean(scan_files(_carriers(template)[carrier]))

    @pytest.mark.parametrize("case", sorted(BENIGN))
    def test_plain_shapes_clean(self, case: str) -> None:
        verdict = analyse_template(BENIGN[case])
        assert verdict.parser == "jinja2"
        assert (verdict.reasons, verdict.error) == ([], None)


class TestEscapesFlagged:
    @pytest.mark.parametrize("case", sorted(MALICIOUS))
    def test_reasons(self, case: str) -> None:
        verdict = analyse_template(MALICIOUS[case])
        assert verdict.parser == "jinja2"
        assert verdict.reasons != []
        assert verdict.error is None  # judged on the syntax tree, not by the fallback

    @pytest.mark.parametrize("case", sorted(MALICIOUS))
    @pytest.mark.parametrize("carrier", CARRIERS)
    def test_through_carriers(
        self, scan_files: Callable[..., object], case: str, carrier: str
    ) -> None:
        details = scan_files(_carriers(MALICIOUS[case])[carrier])
        (f,) = details.files  # type: ignore[attr-defined]
        assert THREAT in threats_of(f), (case, carrier, f.issues_detected)
        assert all(i.operator == "jinja" for i in f.issues_detected if i.threat == THREAT)

    def test_named_gguf_template_named_in_finding(self, scan_files: Callable[..., object]) -> None:
        details = scan_files(_carriers(MALICIOUS["range_init"])["gguf_named"])
        (f,) = details.files  # type: ignore[attr-defined]
        descriptions = [i.description for i in f.issues_detected]
        assert any("'tool_use'" in d for d in descriptions), descriptions
        assert all(i.source.endswith("tokenizer.chat_template.tool_use") for i in f.issues_detected)

    def test_mapping_form(self, scan_files: Callable[..., object]) -> None:
        doc = {"chat_template": {"default": "{{ x }}", "rag": MALICIOUS["cycler_globals"]}}
        details = scan_files({"tokenizer_config.json": json.dumps(doc).encode()})
        assert THREAT in threats_of(details.files[0])  # type: ignore[attr-defined]


class TestFailClosed:
    def test_unparseable_template_is_an_error(self) -> None:
        verdict = analyse_template("{% for m in messages %}{{ m.content }}")
        assert verdict.error is not None and "jinja2" in verdict.error

    def test_unparseable_template_still_checked(self) -> None:
        verdict = analyse_template("{% frobnicate %}{{ ''.__class__ }}")
        assert verdict.error is not None
        assert any("__class__" in r for r in verdict.reasons)

    def test_unparseable_template_in_scan(self, scan_files: Callable[..., object]) -> None:
        details = scan_files({"chat_template.jinja": b"{% if x %}unclosed"})
        f = details.files[0]  # type: ignore[attr-defined]
        assert f.error_message is not None
        assert f.issues_detected  # the default policy blocks it

    def test_oversized_jinja_file_is_an_error(self, scan_files: Callable[..., object]) -> None:
        from modelsec.scanner.limits import ScanLimits

        limits = ScanLimits(max_text_bytes=64)
        details = scan_files({"chat_template.jinja": b"{{ x }}" * 20}, limits=limits)
        assert details.files[0].error_message is not None  # type: ignore[attr-defined]

    def test_bad_list_entry_is_an_error(self, scan_files: Callable[..., object]) -> None:
        doc = {"chat_template": [{"name": "x", "template": 5}]}
        details = scan_files({"tokenizer_config.json": json.dumps(doc).encode()})
        assert details.files[0].error_message is not None  # type: ignore[attr-defined]


@pytest.fixture
def no_jinja2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import jinja2`` fail, as on an install without the ``templates`` extra."""
    monkeypatch.setitem(sys.modules, "jinja2", None)


# Real templates the stricter fallback flags (a key variable bound from template strings:
# ``for field in [('maximum', ...)]`` / ``set tns = fn.name.split('.')[0]``), which the
# syntax-tree analysis resolves as harmless.
FALLBACK_STRICTER = {"meetkai-functionary-medium-v3.2.jinja", "muse-glimmer.jinja"}


@pytest.mark.usefixtures("no_jinja2")
class TestFallbackWithoutJinja2:
    def test_uses_fallback(self) -> None:
        assert analyse_template("{{ x }}").parser == "fallback"

    @pytest.mark.parametrize("case", sorted(MALICIOUS))
    def test_never_laxer(self, case: str) -> None:
        assert analyse_template(MALICIOUS[case]).reasons != []

    @pytest.mark.parametrize("name", REAL)
    def test_real_templates(self, name: str) -> None:
        verdict = analyse_template((DATA / name).read_text(encoding="utf-8"))
        assert verdict.error is None
        if name in FALLBACK_STRICTER:
            assert verdict.reasons and all(
                "assigned from template strings" in r for r in verdict.reasons
            )
        else:
            assert verdict.reasons == []

    @pytest.mark.parametrize("text", ["{{ x ", "{% if %", "{# x", "{{ 'x }}", "{% raw %}x"])
    def test_malformed_is_an_error(self, text: str) -> None:
        assert analyse_template(text).error is not None

    def test_scan_blocks(self, scan_files: Callable[..., object]) -> None:
        details = scan_files(_carriers(MALICIOUS["item_reverse"])["gguf"])
        assert THREAT in threats_of(details.files[0])  # type: ignore[attr-defined]


def test_json_over_the_size_limit_fails_closed(tmp_path: pathlib.Path) -> None:
    from modelsec.scanner import ScanLimits, scan_path

    doc = '{"chat_template": "{{ cycler.__init__.__globals__ }}", "pad": "' + "x" * 2048 + '"}'
    (tmp_path / "tokenizer_config.json").write_text(doc)
    f = scan_path(tmp_path, limits=ScanLimits(max_json_bytes=1024)).files[0]
    assert f.issues_detected, "an unread tokenizer config must not pass"
    assert "larger than 1024 bytes" in (f.error_message or "")
