#include "wf/validate.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "wf/yaml_loader.hpp"

using wf::DiagnosticList;
using wf::SourcePos;
using wf::Text;

namespace {

struct Strings : std::vector<std::string> {
  using std::vector<std::string>::vector;
  Strings() = default;
  Strings(std::vector<std::string> v) : std::vector<std::string>(std::move(v)) {}
};

// Loads `text` as w.yaml, validates every workflow in it and returns each diagnostic as its
// first formatted line ("w.yaml:3:5: error: message"), sorted by place.
Strings validate(const std::string& text) {
  DiagnosticList d;
  wf::WorkflowFile f = wf::load_workflow_text("w.yaml", text, d);
  REQUIRE_MESSAGE(!d.has_errors(), "the loader rejected the test input");
  for (const auto& w : f.workflows) wf::validate_workflow(w, d);
  Strings out;
  for (const auto& x : d.sorted()) {
    std::string s = d.format(x);
    out.push_back(s.substr(0, s.find('\n')));
  }
  return out;
}

// The caret block of the first diagnostic (source line and caret line).
std::string caret_of(const std::string& text) {
  DiagnosticList d;
  wf::WorkflowFile f = wf::load_workflow_text("w.yaml", text, d);
  for (const auto& w : f.workflows) wf::validate_workflow(w, d);
  REQUIRE_FALSE(d.items().empty());
  std::string s = d.format(d.sorted()[0]);
  return s.substr(s.find('\n') + 1);
}

std::string at(const SourcePos& p) { return std::to_string(p.line) + ":" + std::to_string(p.col); }

const std::string kHead = "w:\n  type: Workflow\n";

}  // namespace

// Print string lists in failure messages, one item a line.
namespace doctest {
template <>
struct StringMaker<Strings> {
  static String convert(const Strings& v) {
    std::string s = "{";
    for (const auto& x : v) s += "\n  \"" + x + "\"";
    s += v.empty() ? "}" : "\n}";
    return s.c_str();
  }
};
}  // namespace doctest

// --- needs -----------------------------------------------------------------------------------

TEST_CASE("validate: a valid workflow has no diagnostics") {
  CHECK(validate(kHead +
                 "  params:\n"
                 "    source: str\n"
                 "    mode: {type: choice, options: [full, inc]}\n"
                 "  env: {SRC: \"${{ params.source }}\"}\n"
                 "  run-name: \"Load ${{ params.source }} ${{ run.id }}\"\n"
                 "  jobs:\n"
                 "    extract:\n"
                 "      outputs:\n"
                 "        files: ${{ stages.list.outputs.files }}\n"
                 "      stages:\n"
                 "        - id: list\n"
                 "          bash: ls\n"
                 "        - name: show\n"
                 "          echo: ${{ stages.list.outputs.stdout }} ${{ env.HOME }} ${{ retry }}\n"
                 "    transform:\n"
                 "      needs: [extract]\n"
                 "      if: ${{ params.mode == 'full' && needs.extract.result == 'success' }}\n"
                 "      env: {FILES: \"${{ needs.extract.outputs.files }}\"}\n"
                 "      stages:\n"
                 "        - name: go ${{ matrix.part }}\n"
                 "          bash: echo \"$FILES\"\n"
                 "          if: params.mode != 'inc' || stages == null\n"
                 "    report:\n"
                 "      needs: transform\n"
                 "      if: ${{ always() }}\n"
                 "      stages:\n"
                 "        - name: r\n"
                 "          echo: ${{ jobs.extract.status }} ${{ release.logical_date }} $${{ not.checked }}\n") ==
        Strings{});
}

TEST_CASE("validate: unknown needs are errors with did-you-mean") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    extract: {stages: []}\n"
                 "    load:\n"
                 "      needs: [extrct, zzz]\n"
                 "      stages: []\n") ==
        Strings{
            "w.yaml:6:15: error: job 'load' needs unknown job 'extrct'; did you mean 'extract'?",
            "w.yaml:6:23: error: job 'load' needs unknown job 'zzz'",
        });
}

TEST_CASE("validate: a cycle in needs names the cycle") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a: {needs: c, stages: []}\n"
                 "    b: {needs: a, stages: []}\n"
                 "    c: {needs: b, stages: []}\n"
                 "    d: {needs: a, stages: []}\n") ==
        Strings{"w.yaml:4:5: error: workflow 'w' has a cycle in 'needs': a -> c -> b -> a"});
}

TEST_CASE("validate: a job that needs itself is one error") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      needs: [a]\n"
                 "      stages: []\n") == Strings{"w.yaml:5:15: error: job 'a' needs itself"});
}

TEST_CASE("validate: a need listed twice is a warning") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a: {stages: []}\n"
                 "    b: {needs: [a, a], stages: []}\n") ==
        Strings{"w.yaml:5:20: warning: job 'b' lists 'a' in 'needs' twice"});
}

// --- stage ids -------------------------------------------------------------------------------

TEST_CASE("validate: stage ids are unique in a job, not across jobs") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      stages:\n"
                 "        - {id: s, echo: one}\n"
                 "        - {name: x, echo: two}\n"
                 "        - {id: s, echo: three}\n"
                 "        - {name: x, echo: same name is fine}\n"
                 "    b:\n"
                 "      stages:\n"
                 "        - {id: s, echo: other job}\n") ==
        Strings{"w.yaml:8:16: error: duplicate stage id 's' in job 'a'"});
}

// --- expressions -----------------------------------------------------------------------------

TEST_CASE("validate: expression syntax errors point at the problem") {
  const std::string text = kHead +
                           "  jobs:\n"
                           "    a:\n"
                           "      if: params.a ==\n"
                           "      stages:\n"
                           "        - name: s\n"
                           "          echo: \"hello ${{ params.a + }}\"\n"
                           "        - name: t\n"
                           "          echo: hello ${{ 'x }}\n"
                           "        - name: u\n"
                           "          echo: ${{ params.a\n";
  CHECK(validate(text) ==
        Strings{
            "w.yaml:5:22: error: unexpected end of expression at column 12 in 'params.a =='",
            "w.yaml:8:37: error: unexpected character '+' at column 10 in 'params.a +'",
            "w.yaml:10:27: error: unterminated string at column 1 in ''x'",
            "w.yaml:12:17: error: unterminated '${{' at column 1 (no closing '}}')",
        });
  CHECK(caret_of(text) ==
        "        if: params.a ==\n"
        "                       ^\n");
}

TEST_CASE("validate: unknown namespaces, with did-you-mean") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      stages:\n"
                 "        - name: s\n"
                 "          echo: ${{ parms.x }} and ${{ foo }}\n") ==
        Strings{
            "w.yaml:7:21: error: unknown name 'parms' in expression; did you mean 'params'?",
            "w.yaml:7:40: error: unknown name 'foo' in expression",
        });
}

TEST_CASE("validate: every namespace of FORMAT §7 is known") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      stages:\n"
                 "        - name: s\n"
                 "          echo: >-\n"
                 "            ${{ env.X }} ${{ matrix.k }} ${{ item }} ${{ loop }} ${{ branch }}\n"
                 "            ${{ case }} ${{ retry }} ${{ run.id }} ${{ run.attempt }} ${{ run.workflow }}\n"
                 "            ${{ release.logical_date }} ${{ release.type }} ${{ params }}\n") == Strings{});
}

TEST_CASE("validate: undeclared params with did-you-mean") {
  CHECK(validate(kHead +
                 "  params:\n"
                 "    run-date: date\n"
                 "    source: str\n"
                 "  jobs:\n"
                 "    a:\n"
                 "      stages:\n"
                 "        - name: s\n"
                 "          echo: ${{ params.run_date }} ${{ params.nothing }} ${{ params.source }}\n") ==
        Strings{
            "w.yaml:10:21: warning: undeclared param 'run_date'; did you mean 'run-date'?",
            "w.yaml:10:44: warning: undeclared param 'nothing'; reading it fails the stage at run time",
        });
}

TEST_CASE("validate: params are checked in workflow env, run-name and param defaults") {
  CHECK(validate(kHead +
                 "  params:\n"
                 "    a: str\n"
                 "    b: {type: str, default: \"${{ params.c }}\"}\n"
                 "  env: {X: \"${{ params.d }}\"}\n"
                 "  run-name: \"${{ params.e }}\"\n"
                 "  jobs: {}\n") ==
        Strings{
            "w.yaml:5:34: warning: undeclared param 'c'; did you mean 'a'?",
            "w.yaml:6:17: warning: undeclared param 'd'; did you mean 'a'?",
            "w.yaml:7:18: warning: undeclared param 'e'; did you mean 'a'?",
        });
}

TEST_CASE("validate: needs.x must be in the job's needs and has only result, outputs, legs") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      stages: []\n"
                 "    b:\n"
                 "      stages: []\n"
                 "    c:\n"
                 "      needs: [a]\n"
                 "      if: ${{ needs.b.result == 'success' }}\n"
                 "      stages:\n"
                 "        - name: s\n"
                 "          echo: ${{ needs.a.output.x }} ${{ needs.a.legs }} ${{ needs.a.status }}\n") ==
        Strings{
            "w.yaml:10:15: error: job 'c' reads needs.b but 'b' is not in its 'needs'",
            "w.yaml:13:21: error: needs.a has no field 'output' (fields: result, outputs, legs); did you mean "
            "'outputs'?",
            "w.yaml:13:65: error: needs.a has no field 'status' (fields: result, outputs, legs)",
        });
}

TEST_CASE("validate: needs outside a job is an error") {
  CHECK(validate(kHead +
                 "  env: {X: \"${{ needs.a.result }}\"}\n"
                 "  jobs:\n"
                 "    a: {stages: []}\n") == Strings{"w.yaml:3:17: error: 'needs' can only be used inside a job"});
}

TEST_CASE("validate: stages.x must be an earlier stage of the same job") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      stages:\n"
                 "        - id: first\n"
                 "          echo: ${{ stages.second.outputs.x }}\n"
                 "        - id: second\n"
                 "          echo: ${{ stages.first.outputs.x }} ${{ stages.frist.outputs }}\n"
                 "    b:\n"
                 "      stages:\n"
                 "        - name: s\n"
                 "          if: stages.first.status == 'SUCCESS'\n"
                 "          echo: x\n") ==
        Strings{
            "w.yaml:7:21: error: stages.second is read before stage 'second' runs",
            "w.yaml:9:51: error: no stage 'frist' earlier in job 'a'; did you mean 'first'?",
            "w.yaml:13:15: error: no stage 'first' earlier in job 'b'",
        });
}

TEST_CASE("validate: a job's outputs may read every stage of the job") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      outputs:\n"
                 "        x: ${{ stages.last.outputs.x }}\n"
                 "        y: ${{ stages.nope.outputs.y }}\n"
                 "      stages:\n"
                 "        - {id: first, echo: a}\n"
                 "        - {id: last, echo: b}\n") ==
        Strings{"w.yaml:7:16: error: no stage 'nope' earlier in job 'a'"});
}

TEST_CASE("validate: jobs.x must be a job of the workflow") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      stages:\n"
                 "        - name: s\n"
                 "          echo: ${{ jobs.a.status }} ${{ jobs.zz.status }}\n") ==
        Strings{"w.yaml:7:42: error: no job 'zz' in workflow 'w'"});
}

TEST_CASE("validate: a stage's name and id may only use matrix") {
  CHECK(validate(kHead +
                 "  params: {p: str}\n"
                 "  jobs:\n"
                 "    a:\n"
                 "      stages:\n"
                 "        - name: run ${{ matrix.os }}\n"
                 "          echo: a\n"
                 "        - name: run ${{ params.p }}\n"
                 "          id: s-${{ env.X }}\n"
                 "          echo: b\n") ==
        Strings{
            "w.yaml:9:25: error: a stage's name and id may only use matrix expressions, not 'params'",
            "w.yaml:10:21: error: a stage's name and id may only use matrix expressions, not 'env'",
        });
}

TEST_CASE("validate: expressions in every checked stage and job field") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      env: {A: \"${{ bad1 }}\"}\n"
                 "      timeout: ${{ bad2 }}\n"
                 "      retry: ${{ bad3 }}\n"
                 "      defaults: {working-directory: \"${{ bad4 }}\"}\n"
                 "      stages:\n"
                 "        - name: s\n"
                 "          if: ${{ bad5 }}\n"
                 "          env: {B: \"${{ bad6 }}\"}\n"
                 "          retry: ${{ bad7 }}\n"
                 "          timeout: ${{ bad8 }}\n"
                 "          working-directory: ${{ bad9 }}\n"
                 "          shell: ${{ bad10 }}\n"
                 "          bash: ${{ bad11 }}\n"
                 "        - name: t\n"
                 "          echo: ${{ bad12 }}\n"
                 "          sleep: ${{ bad13 }}\n"
                 "        - name: r\n"
                 "          raise: ${{ bad14 }}\n") ==
        Strings{
            "w.yaml:5:21: error: unknown name 'bad1' in expression",
            "w.yaml:6:20: error: unknown name 'bad2' in expression",
            "w.yaml:7:18: error: unknown name 'bad3' in expression",
            "w.yaml:8:42: error: unknown name 'bad4' in expression",
            "w.yaml:11:19: error: unknown name 'bad5' in expression",
            "w.yaml:12:25: error: unknown name 'bad6' in expression",
            "w.yaml:13:22: error: unknown name 'bad7' in expression",
            "w.yaml:14:24: error: unknown name 'bad8' in expression",
            "w.yaml:15:34: error: unknown name 'bad9' in expression",
            "w.yaml:16:22: error: unknown name 'bad10' in expression",
            "w.yaml:17:21: error: unknown name 'bad11' in expression",
            "w.yaml:19:21: error: unknown name 'bad12' in expression",
            "w.yaml:20:22: error: unknown name 'bad13' in expression",
            "w.yaml:22:22: error: unknown name 'bad14' in expression",
        });
}

TEST_CASE("validate: a plain if: is itself an expression and is checked") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      if: parms.x == 'y'\n"
                 "      stages:\n"
                 "        - name: s\n"
                 "          if: \"False\"\n"
                 "          echo: a\n") ==
        Strings{"w.yaml:5:11: error: unknown name 'parms' in expression; did you mean 'params'?"});
}

// --- bash warning ----------------------------------------------------------------------------

TEST_CASE("validate: ${{ params.* }} inside bash is a warning that suggests env: or shell_quote") {
  CHECK(validate(kHead +
                 "  params: {name: str}\n"
                 "  jobs:\n"
                 "    a:\n"
                 "      stages:\n"
                 "        - name: s\n"
                 "          env: {NAME: \"${{ params.name }}\"}\n"
                 "          bash: echo ${{ params.name }} \"$NAME\"\n"
                 "        - name: t\n"
                 "          echo: ${{ params.name }}\n") ==
        Strings{"w.yaml:9:26: warning: '${{ params.name }}' is pasted into the script as text; pass it through env: "
                "and use \"$VAR\", or '| shell_quote'"});
}

TEST_CASE("validate: no bash warning when the param is passed through shell_quote") {
  CHECK(validate(kHead +
                 "  params: {name: str}\n"
                 "  jobs:\n"
                 "    a:\n"
                 "      stages:\n"
                 "        - name: s\n"
                 "          bash: echo ${{ params.name | shell_quote }}\n") == Strings{});
}

// --- positions in the file -------------------------------------------------------------------

TEST_CASE("validate: positions inside quoted and block scalars") {
  CHECK(validate(kHead +
                 "  params: {p: str}\n"
                 "  jobs:\n"
                 "    a:\n"
                 "      stages:\n"
                 "        - name: s\n"
                 "          bash: \"echo ${{ params.q }}\"\n"
                 "        - name: t\n"
                 "          bash: 'echo ${{ params.r }}'\n"
                 "        - name: u\n"
                 "          bash: |\n"
                 "            set -x\n"
                 "            echo ${{ params.s }}\n") ==
        Strings{
            "w.yaml:8:27: warning: undeclared param 'q'; did you mean 'p'?",
            "w.yaml:10:27: warning: undeclared param 'r'; did you mean 'p'?",
            "w.yaml:14:22: warning: undeclared param 's'; did you mean 'p'?",
        });
}

TEST_CASE("validate: the same expression twice in one value is reported at each place") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      stages:\n"
                 "        - name: s\n"
                 "          echo: ${{ parms.x }} ${{ parms.x }}\n"
                 "        - name: t\n"
                 "          bash: |\n"
                 "            echo ${{ params.bad }}\n"
                 "            echo ${{ params.bad }}\n") ==
        Strings{
            "w.yaml:7:21: error: unknown name 'parms' in expression; did you mean 'params'?",
            "w.yaml:7:36: error: unknown name 'parms' in expression; did you mean 'params'?",
            "w.yaml:10:22: warning: undeclared param 'bad'; reading it fails the stage at run time",
            "w.yaml:11:22: warning: undeclared param 'bad'; reading it fails the stage at run time",
        });
}

TEST_CASE("validate: locate_in_source maps an offset in a value to the file") {
  SUBCASE("plain scalar") {
    const std::string src = "a:\n  bash: echo ${{ params.x }}\n";
    Text t{"echo ${{ params.x }}", {"f.yaml", 2, 9}};
    CHECK(at(wf::locate_in_source(t, 0, &src)) == "2:9");
    CHECK(at(wf::locate_in_source(t, t.value.find("params"), &src)) == "2:18");
  }
  SUBCASE("double-quoted scalar: the Text starts at the quote") {
    const std::string src = "a:\n  bash: \"echo ${{ params.x }}\"\n";
    Text t{"echo ${{ params.x }}", {"f.yaml", 2, 9}};
    CHECK(at(wf::locate_in_source(t, t.value.find("params"), &src)) == "2:19");
  }
  SUBCASE("single-quoted scalar") {
    const std::string src = "a:\n  bash: 'it''s ${{ params.x }}'\n";
    Text t{"it's ${{ params.x }}", {"f.yaml", 2, 9}};
    CHECK(at(wf::locate_in_source(t, t.value.find("params"), &src)) == "2:20");
  }
  SUBCASE("block scalar: the Text starts at '|'") {
    const std::string src = "a:\n  bash: |\n    set -e\n    echo ${{ params.x }}\n";
    Text t{"set -e\necho ${{ params.x }}\n", {"f.yaml", 2, 9}};
    CHECK(at(wf::locate_in_source(t, t.value.find("params"), &src)) == "4:14");
    CHECK(at(wf::locate_in_source(t, 0, &src)) == "3:5");
  }
  SUBCASE("the same text earlier in the value does not capture a later offset") {
    const std::string src = "a:\n  echo: ${{ a }} ${{ a }}\n";
    Text t{"${{ a }} ${{ a }}", {"f.yaml", 2, 9}};
    CHECK(at(wf::locate_in_source(t, 4, &src)) == "2:13");
    CHECK(at(wf::locate_in_source(t, 13, &src)) == "2:22");
  }
  SUBCASE("text that appears before the scalar is not matched") {
    const std::string src = "params.x: 1\nb:\n  echo: ${{ params.x }}\n";
    Text t{"${{ params.x }}", {"f.yaml", 3, 9}};
    CHECK(at(wf::locate_in_source(t, 4, &src)) == "3:13");
  }
  SUBCASE("without a source, or without a position, the Text's own position") {
    Text t{"echo ${{ x }}", {"f.yaml", 2, 9}};
    CHECK(at(wf::locate_in_source(t, 9, nullptr)) == "2:9");
    const std::string src = "whatever\n";
    Text nowhere{"echo ${{ x }}", {"f.yaml", 0, 0}};
    CHECK(at(wf::locate_in_source(nowhere, 9, &src)) == "0:0");
  }
  SUBCASE("a value whose text is not in the file (escapes) falls back to counting on its first line") {
    const std::string src = "a:\n  echo: \"tab\\there ${{ x }}\"\n";
    Text t{"tab\there ${{ x }}", {"f.yaml", 2, 9}};
    // The needle from offset 4 is "here ${{ x }}", which is in the file.
    CHECK(at(wf::locate_in_source(t, 4, &src)) == "2:15");
    // From offset 0 the needle holds a real tab, which the file spells \t: count instead.
    CHECK(at(wf::locate_in_source(t, 0, &src)) == "2:9");
  }
}

TEST_CASE("validate: runs-on slurm is accepted; unknown or bad `with` keys are errors") {
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      runs-on: {type: slurm, with: {partition: debug, time: '00:10:00', cpus_per_task: 2,\n"
                 "                mem: 1G, account: lab, qos: low, extra-args: ['--exclusive']}}\n"
                 "      stages: []\n"
                 "    b: {runs-on: slurm, stages: []}\n")
            .empty());
  CHECK(validate(kHead +
                 "  jobs:\n"
                 "    a:\n"
                 "      runs-on: {type: slurm, with: {partiton: debug, nodes: 2, cpus-per-task: -1}}\n"
                 "      stages: []\n") ==
        Strings{
            "w.yaml:4:5: error: job 'a': unknown key 'nodes' in runs-on.with (slurm accepts: partition, time, "
            "cpus-per-task, mem, account, qos, extra-args)",
            "w.yaml:4:5: error: job 'a': unknown key 'partiton' in runs-on.with; did you mean 'partition'?",
            "w.yaml:4:5: error: job 'a': runs-on.with.cpus-per-task must be a positive whole number, got -1",
        });
}
