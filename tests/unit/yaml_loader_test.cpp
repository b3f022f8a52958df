#include "wf/yaml_loader.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using wf::DiagnosticList;
using wf::Json;
using wf::ParamType;
using wf::StageKind;
using wf::TriggerRule;
using wf::WorkflowFile;

namespace {

struct Strings : std::vector<std::string> {
  using std::vector<std::string>::vector;
  Strings() = default;
  Strings(std::vector<std::string> v) : std::vector<std::string>(std::move(v)) {}
};

struct Loaded {
  DiagnosticList diags;
  WorkflowFile file;
};

Loaded load(const std::string& text) {
  Loaded l;
  l.file = wf::load_workflow_text("w.yaml", text, l.diags);
  return l;
}

// Each diagnostic as its first formatted line: "w.yaml:3:5: error: message".
Strings lines(const DiagnosticList& d) {
  Strings out;
  for (const auto& x : d.sorted()) {
    std::string s = d.format(x);
    out.push_back(s.substr(0, s.find('\n')));
  }
  return out;
}

std::string at(const wf::SourcePos& p) { return std::to_string(p.line) + ":" + std::to_string(p.col); }

// A workflow `w` whose only job `a` holds `stages` (already indented by 8 spaces).
std::string with_stages(const std::string& stages) {
  return "w:\n  type: Workflow\n  jobs:\n    a:\n      stages:\n" + stages;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/wf_loader_test_XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

// --- file layouts ----------------------------------------------------------------------------

TEST_CASE("loader: a file may hold a map of workflow names to bodies") {
  auto l = load(
      "etl-daily:\n"
      "  type: Workflow\n"
      "  desc: Load files\n"
      "  tags: [etl, daily]\n"
      "  jobs:\n"
      "    extract:\n"
      "      stages:\n"
      "        - name: hello\n"
      "          echo: hi\n"
      "report:\n"
      "  type: Workflow\n"
      "  description: Weekly report\n"
      "  tags: weekly\n"
      "  jobs:\n"
      "    a:\n"
      "      stages:\n"
      "        - id: s\n");
  CHECK(lines(l.diags).empty());
  REQUIRE(l.file.workflows.size() == 2);
  const auto& a = l.file.workflows[0];
  CHECK(a.name == "etl-daily");
  CHECK(a.file == "w.yaml");
  CHECK(at(a.pos) == "1:1");
  CHECK(a.desc == "Load files");
  CHECK(a.tags == Strings{"etl", "daily"});
  REQUIRE(a.jobs.size() == 1);
  CHECK(a.jobs[0].name == "extract");
  CHECK(at(a.jobs[0].pos) == "6:5");
  const auto& b = l.file.workflows[1];
  CHECK(b.name == "report");
  CHECK(at(b.pos) == "10:1");
  CHECK(b.desc == "Weekly report");
  CHECK(b.tags == Strings{"weekly"});
  CHECK(l.file.path == "w.yaml");
  REQUIRE(l.diags.source("w.yaml") != nullptr);
  CHECK(*l.diags.source("w.yaml") == l.file.text);
}

TEST_CASE("loader: a file may hold one workflow body with a top-level name") {
  auto l = load(
      "name: nightly\n"
      "type: Workflow\n"
      "jobs:\n"
      "  a:\n"
      "    stages:\n"
      "      - name: s\n"
      "        echo: hi\n");
  CHECK(lines(l.diags).empty());
  REQUIRE(l.file.workflows.size() == 1);
  CHECK(l.file.workflows[0].name == "nightly");
  CHECK(at(l.file.workflows[0].pos) == "1:7");
  CHECK(l.file.workflows[0].jobs.size() == 1);
}

TEST_CASE("loader: a top-level body without a name is an error") {
  auto l = load("type: Workflow\njobs: {}\n");
  CHECK(lines(l.diags) == Strings{"w.yaml:1:1: error: a workflow written at the top level of a file needs 'name:'"});
  CHECK(l.file.workflows.empty());
}

TEST_CASE("loader: 'name' inside a named map entry is an unknown key") {
  auto l = load("w:\n  type: Workflow\n  name: other\n  jobs: {}\n");
  CHECK(lines(l.diags) == Strings{"w.yaml:3:3: error: unknown key 'name' in workflow 'w'"});
}

TEST_CASE("loader: an empty file is valid and holds nothing") {
  for (const std::string text : {"", "\n\n", "# only a comment\n", "---\n", "~\n"}) {
    CAPTURE(text);
    auto l = load(text);
    CHECK(l.diags.items().empty());
    CHECK(l.file.workflows.empty());
  }
}

TEST_CASE("loader: entries whose type is not Workflow are skipped with a note") {
  auto l = load(
      "nightly:\n"
      "  type: Schedule\n"
      "  cron: '* * * * *'\n"
      "w:\n"
      "  type: Workflow\n"
      "  jobs: {}\n");
  CHECK(lines(l.diags) == Strings{"w.yaml:2:9: note: 'nightly' is skipped: type 'Schedule' is not a workflow"});
  CHECK_FALSE(l.diags.has_errors());
  REQUIRE(l.file.workflows.size() == 1);
  CHECK(l.file.workflows[0].name == "w");
}

TEST_CASE("loader: a top-level body of another type is skipped with a note") {
  auto l = load("name: s\ntype: Schedule\n");
  CHECK(lines(l.diags) == Strings{"w.yaml:2:7: note: 's' is skipped: type 'Schedule' is not a workflow"});
  CHECK(l.file.workflows.empty());
}

TEST_CASE("loader: an entry without type is an error, and so is an entry that is not a map") {
  auto l = load(
      "a:\n"
      "  jobs: {}\n"
      "b: 5\n"
      "c:\n"
      "  type: [Workflow]\n");
  CHECK(lines(l.diags) == Strings{
                              "w.yaml:1:1: error: 'a' has no 'type:'; a workflow needs 'type: Workflow'",
                              "w.yaml:3:1: error: 'b' must be a map with 'type: Workflow'",
                              "w.yaml:5:9: note: 'c' is skipped: type '?' is not a workflow",
                          });
  CHECK(l.file.workflows.empty());
}

TEST_CASE("loader: a file that is not a map, or not YAML, is an error with its position") {
  CHECK(lines(load("- a\n- b\n").diags) ==
        Strings{"w.yaml:1:1: error: expected a map of workflows (name: {type: Workflow, ...}) or one workflow with "
                "'name:'"});
  CHECK(lines(load("w:\n  type: Workflow\n  jobs: [a\n").diags) ==
        Strings{"w.yaml:4:1: error: invalid YAML: end of sequence flow not found"});
  CHECK(lines(load("w:\n  type: Workflow\n   bad: indent\n").diags) ==
        Strings{"w.yaml:3:7: error: invalid YAML: illegal map value"});
}

TEST_CASE("loader: a workflow without jobs is an error at its name") {
  CHECK(lines(load("w:\n  type: Workflow\n").diags) == Strings{"w.yaml:1:1: error: workflow 'w' has no 'jobs:'"});
  CHECK(lines(load("w:\n  type: Workflow\n  jobs: [a]\n").diags) ==
        Strings{"w.yaml:3:9: error: 'jobs' must be a map of job names to jobs"});
}

// --- strict keys -----------------------------------------------------------------------------

TEST_CASE("loader: unknown keys at every level are errors with did-you-mean") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  parms: {}\n"                         // 3
      "  defaults: {shel: sh}\n"              // 4
      "  params:\n"
      "    p: {type: str, defualt: x}\n"      // 6
      "  jobs:\n"
      "    a:\n"
      "      need: [b]\n"                     // 9
      "      runs-on: {type: slurm, wiht: {}}\n"  // 10
      "      stages:\n"
      "        - name: s\n"
      "          bash: echo\n"
      "          shel: sh\n"                  // 14
      "        - name: t\n"
      "          ech: hi\n"                   // 16
      "        - name: u\n"
      "          bash: echo\n"
      "          zzzzzz: 1\n"                 // 19: nothing close
      "    b:\n"
      "      stages: []\n");
  CHECK(lines(l.diags) ==
        Strings{
            "w.yaml:3:3: error: unknown key 'parms' in workflow 'w'; did you mean 'params'?",
            "w.yaml:4:14: error: unknown key 'shel' in defaults; did you mean 'shell'?",
            "w.yaml:6:20: error: unknown key 'defualt' in param 'p'; did you mean 'default'?",
            "w.yaml:9:7: error: unknown key 'need' in job 'a'; did you mean 'needs'?",
            "w.yaml:10:30: error: unknown key 'wiht' in runs-on; did you mean 'with'?",
            "w.yaml:14:11: error: unknown key 'shel' in stage 's'; did you mean 'shell'?",
            "w.yaml:16:11: error: unknown key 'ech' in stage 't'; did you mean 'echo'?",
            "w.yaml:19:11: error: unknown key 'zzzzzz' in stage 'u'",
        });
}

TEST_CASE("loader: keys starting with x- are free for users and ignored") {
  auto l = load(
      "x-common-env: &env\n"
      "  LANG: C\n"
      "w:\n"
      "  type: Workflow\n"
      "  x-owner: data-team\n"
      "  env: *env\n"
      "  params:\n"
      "    p: {type: str, x-ui: textbox}\n"
      "  jobs:\n"
      "    x-template:\n"
      "      anything: [goes]\n"
      "    a:\n"
      "      x-note: {free: form}\n"
      "      stages:\n"
      "        - name: s\n"
      "          x-comment: hi\n"
      "          echo: hi\n");
  CHECK(lines(l.diags).empty());
  REQUIRE(l.file.workflows.size() == 1);
  const auto& w = l.file.workflows[0];
  CHECK(w.name == "w");
  REQUIRE(w.jobs.size() == 1);  // x-template is not a job
  CHECK(w.jobs[0].name == "a");
  REQUIRE(w.env.size() == 1);
  CHECK(w.env[0].first == "LANG");
  CHECK(w.env[0].second.value == "C");
}

TEST_CASE("loader: ddeutil's underscore spellings are accepted for hyphenated keys") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  max_job_parallel: 3\n"
      "  run_name: nightly\n"
      "  defaults: {working_directory: /srv}\n"
      "  jobs:\n"
      "    a:\n"
      "      trigger_rule: none_failed\n"
      "      continue_on_error: true\n"
      "      runs_on: local\n"
      "      stages:\n"
      "        - name: s\n"
      "          bash: echo\n"
      "          working_directory: /tmp\n"
      "          continue_on_error: true\n"
      "        - name: p\n"
      "          parallel: {x: []}\n"
      "          max_workers: 2\n"
      "        - name: f\n"
      "          foreach: [1, 2]\n"
      "          use_index_as_key: true\n"
      "          stages: []\n"
      "        - name: u\n"
      "          until: ${{ item > 3 }}\n"
      "          max_loop: 5\n"
      "          stages: []\n"
      "        - name: c\n"
      "          case: x\n"
      "          match: []\n"
      "          skip_not_match: true\n"
      "    b:\n"
      "      trigger-rule: one-failed\n"
      "      stages: []\n");
  CHECK(lines(l.diags).empty());
  REQUIRE(l.file.workflows.size() == 1);
  const auto& w = l.file.workflows[0];
  CHECK(w.max_job_parallel == 3);
  REQUIRE(w.run_name.has_value());
  CHECK(w.run_name->value == "nightly");
  REQUIRE(w.working_directory.has_value());
  CHECK(w.working_directory->value == "/srv");
  REQUIRE(w.jobs.size() == 2);
  CHECK(w.jobs[0].trigger_rule == TriggerRule::NoneFailed);
  CHECK(w.jobs[0].continue_on_error);
  CHECK(w.jobs[0].runs_on == Json("local"));
  CHECK(w.jobs[1].trigger_rule == TriggerRule::OneFailed);
  const auto& s = w.jobs[0].stages[0];
  REQUIRE(s.working_directory.has_value());
  CHECK(s.working_directory->value == "/tmp");
  CHECK(s.continue_on_error);
}

TEST_CASE("loader: every trigger-rule name is known; an unknown one gets did-you-mean") {
  const std::vector<std::pair<std::string, TriggerRule>> rules = {
      {"all_success", TriggerRule::AllSuccess}, {"all_failed", TriggerRule::AllFailed},
      {"all_done", TriggerRule::AllDone},       {"one_success", TriggerRule::OneSuccess},
      {"one_failed", TriggerRule::OneFailed},   {"none_failed", TriggerRule::NoneFailed},
      {"none_skipped", TriggerRule::NoneSkipped}};
  for (const auto& [name, rule] : rules) {
    CAPTURE(name);
    auto l = load("w:\n  type: Workflow\n  jobs:\n    a:\n      trigger-rule: " + name + "\n      stages: []\n");
    CHECK(l.diags.items().empty());
    REQUIRE(l.file.workflows.size() == 1);
    CHECK(l.file.workflows[0].jobs[0].trigger_rule == rule);
  }
  auto bad = load("w:\n  type: Workflow\n  jobs:\n    a:\n      trigger-rule: all_sucess\n      stages: []\n");
  CHECK(lines(bad.diags) == Strings{"w.yaml:5:21: error: unknown trigger-rule 'all_sucess'; did you mean 'all_success'?"});
  auto none = load("w:\n  type: Workflow\n  jobs:\n    a:\n      stages: []\n");
  CHECK(none.file.workflows[0].jobs[0].trigger_rule == TriggerRule::AllSuccess);
}

// --- YAML 1.2 scalars ------------------------------------------------------------------------

TEST_CASE("loader: on/off/yes/no/y/n are strings; only true/false in any case are booleans") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  tags: [on, off, yes, no, y, n]\n"
      "  env: {A: on, B: no, C: true}\n"
      "  params:\n"
      "    s: {type: str, default: yes}\n"
      "    b1: {type: bool, default: True}\n"
      "    b2: {type: bool, default: TRUE}\n"
      "    b3: {type: bool, default: False}\n"
      "    q: {type: str, default: 'true'}\n"
      "    n1: {type: str, default: ~}\n"
      "    n2: {type: str, default: null}\n"
      "    n3: {type: str, default: }\n"
      "    i: {type: int, default: 0x1f}\n"
      "    o: {type: int, default: 0o17}\n"
      "    i2: {type: int, default: -12}\n"
      "    f: {type: float, default: 1.5e3}\n"
      "    a: {type: array, default: [on, 1, '2', false]}\n"
      "  jobs:\n"
      "    a:\n"
      "      continue-on-error: True\n"
      "      stages:\n"
      "        - name: s\n"
      "          echo: hi\n"
      "          continue-on-error: TRUE\n");
  CHECK(lines(l.diags).empty());
  REQUIRE(l.file.workflows.size() == 1);
  const auto& w = l.file.workflows[0];
  CHECK(w.tags == Strings{"on", "off", "yes", "no", "y", "n"});
  REQUIRE(w.env.size() == 3);
  CHECK(w.env[0].second.value == "on");
  CHECK(w.env[1].second.value == "no");
  CHECK(w.env[2].second.value == "true");
  auto def = [&](const char* name) {
    const wf::ParamSpec* p = w.find_param(name);
    REQUIRE(p != nullptr);
    REQUIRE(p->default_value.has_value());
    return *p->default_value;
  };
  CHECK(def("s") == Json("yes"));
  CHECK(def("b1") == Json(true));
  CHECK(def("b2") == Json(true));
  CHECK(def("b3") == Json(false));
  CHECK(def("q") == Json("true"));
  CHECK(def("n1").is_null());
  CHECK(def("n2").is_null());
  CHECK(def("n3").is_null());
  CHECK(def("i") == Json(31));
  CHECK(def("o") == Json(15));
  CHECK(def("i2") == Json(-12));
  CHECK(def("f") == Json(1500.0));
  CHECK(def("f").is_number_float());
  CHECK(def("a") == Json::parse(R"(["on", 1, "2", false])"));
  CHECK(w.jobs[0].continue_on_error);
  CHECK(w.jobs[0].stages[0].continue_on_error);
}

TEST_CASE("loader: a yes/no/on/off where a boolean is wanted is an error") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  params:\n"
      "    p: {type: str, required: yes, secret: off}\n"
      "  jobs:\n"
      "    a:\n"
      "      continue-on-error: on\n"
      "      stages:\n"
      "        - name: s\n"
      "          echo: hi\n"
      "          continue-on-error: 'true'\n");
  CHECK(lines(l.diags) == Strings{
                              "w.yaml:4:30: error: required must be true or false",
                              "w.yaml:4:43: error: secret must be true or false",
                              "w.yaml:7:26: error: continue-on-error must be true or false",
                              "w.yaml:11:30: error: continue-on-error must be true or false",
                          });
}

TEST_CASE("loader: the key 'on' is the schedules key, not the boolean true") {
  auto l = load("w:\n  type: Workflow\n  on:\n    - cron: '0 9 * * *'\n  jobs: {}\n");
  CHECK(lines(l.diags).empty());
  REQUIRE(l.file.workflows.size() == 1);
  CHECK(l.file.workflows[0].on == Json::parse(R"([{"cron": "0 9 * * *"}])"));
}

TEST_CASE("loader: a YAML boolean in 'if' arrives as the text true/false") {
  auto l = load(with_stages(
      "        - name: s\n"
      "          if: false\n"
      "          echo: hi\n"
      "        - name: t\n"
      "          if: True\n"
      "          echo: hi\n"));
  CHECK(lines(l.diags).empty());
  const auto& st = l.file.workflows[0].jobs[0].stages;
  REQUIRE(st[0].if_cond.has_value());
  CHECK(st[0].if_cond->value == "false");
  REQUIRE(st[1].if_cond.has_value());
  CHECK(st[1].if_cond->value == "True");
}

// --- duplicate keys --------------------------------------------------------------------------

TEST_CASE("loader: duplicate keys are errors at the second key") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  desc: one\n"
      "  desc: two\n"                // 4
      "  env:\n"
      "    A: 1\n"
      "    A: 2\n"                   // 7
      "  params:\n"
      "    p: str\n"
      "    p: int\n"                 // 10
      "  jobs:\n"
      "    a:\n"
      "      stages:\n"
      "        - name: s\n"
      "          echo: hi\n"
      "          echo: again\n"      // 16
      "    a:\n"                     // 17
      "      stages: []\n");
  CHECK(lines(l.diags) == Strings{
                              "w.yaml:4:3: error: duplicate key 'desc'",
                              "w.yaml:7:5: error: duplicate key 'A'",
                              "w.yaml:10:5: error: duplicate key 'p'",
                              "w.yaml:16:11: error: duplicate key 'echo'",
                              "w.yaml:17:5: error: duplicate key 'a'",
                          });
}

TEST_CASE("loader: a duplicate workflow name in one file is an error") {
  auto l = load("w:\n  type: Workflow\n  jobs: {}\nw:\n  type: Workflow\n  jobs: {}\n");
  CHECK(lines(l.diags) == Strings{"w.yaml:4:1: error: duplicate key 'w'"});
}

TEST_CASE("loader: a duplicate key in a top-level body is reported once") {
  auto l = load("name: w\ntype: Workflow\ndesc: a\ndesc: b\njobs: {}\n");
  CHECK(lines(l.diags) == Strings{"w.yaml:4:1: error: duplicate key 'desc'"});
}

TEST_CASE("loader: the hyphen and underscore spellings of one key are duplicates") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  jobs:\n"
      "    a:\n"
      "      trigger_rule: all_done\n"
      "      trigger-rule: all_success\n"
      "      stages: []\n");
  REQUIRE(l.diags.error_count() == 1);
  CHECK(l.diags.items()[0].message.find("duplicate key") != std::string::npos);
  CHECK(at(l.diags.items()[0].pos) == "6:7");
}

// --- stages ----------------------------------------------------------------------------------

TEST_CASE("loader: the stage kind comes from its one distinguishing key") {
  auto l = load(with_stages(
      "        - name: e\n"
      "          echo: hi\n"
      "          sleep: 1\n"
      "        - name: z\n"
      "          sleep: 0.5\n"
      "        - name: b\n"
      "          bash: echo\n"
      "          shell: sh\n"
      "        - name: py\n"
      "          run: print(x)\n"
      "          vars: {x: 1}\n"
      "        - name: call\n"
      "          uses: tasks/add@v1\n"
      "          with: {a: 1}\n"
      "        - name: trig\n"
      "          trigger: other\n"
      "          params: {p: 1}\n"
      "        - name: r\n"
      "          raise: boom\n"
      "        - name: par\n"
      "          parallel: {left: [], right: []}\n"
      "          max-workers: 2\n"
      "        - name: fe\n"
      "          foreach: [1, 2]\n"
      "          concurrent: 2\n"
      "          use-index-as-key: true\n"
      "          stages: []\n"
      "        - name: un\n"
      "          until: ${{ item >= 3 }}\n"
      "          item: 0\n"
      "          max-loop: 4\n"
      "          stages: []\n"
      "        - name: cs\n"
      "          case: ${{ params.x }}\n"
      "          match: []\n"
      "          skip-not-match: true\n"));
  CHECK(lines(l.diags).empty());
  REQUIRE(l.file.workflows.size() == 1);
  std::vector<StageKind> kinds;
  for (const auto& s : l.file.workflows[0].jobs[0].stages) kinds.push_back(s.kind);
  CHECK(kinds == std::vector<StageKind>{StageKind::Empty, StageKind::Empty, StageKind::Bash, StageKind::Python,
                                        StageKind::Call, StageKind::Trigger, StageKind::Raise, StageKind::Parallel,
                                        StageKind::Foreach, StageKind::Until, StageKind::Case});
  const auto& st = l.file.workflows[0].jobs[0].stages;
  REQUIRE(st[0].echo.has_value());
  CHECK(st[0].echo->value == "hi");
  REQUIRE(st[0].sleep.has_value());
  CHECK(st[0].sleep->value == "1");
  CHECK(st[2].bash.value == "echo");
  REQUIRE(st[2].shell.has_value());
  CHECK(st[2].shell->value == "sh");
  CHECK(st[6].raise.value == "boom");
  CHECK(st[4].with == Json::parse(R"({"a": 1})"));
  CHECK(st[3].run.value == "print(x)");
}

TEST_CASE("loader: a key of another stage kind is unknown") {
  auto l = load(with_stages(
      "        - name: s\n"
      "          bash: echo\n"
      "          with: {a: 1}\n"
      "        - name: t\n"
      "          raise: x\n"
      "          stages: []\n"));
  CHECK(lines(l.diags) == Strings{
                              "w.yaml:8:11: error: unknown key 'with' in stage 's'",
                              "w.yaml:11:11: error: unknown key 'stages' in stage 't'",
                          });
}

TEST_CASE("loader: a key of another stage kind is not suggested as itself") {
  auto l = load(with_stages(
      "        - name: u\n"
      "          bash: echo\n"
      "          echo: hi\n"
      "        - name: v\n"
      "          echo: hi\n"
      "          bsh: echo\n"));
  auto d = l.diags.sorted();
  REQUIRE(d.size() == 2);
  CAPTURE(d[0].message);
  CHECK(at(d[0].pos) == "8:11");
  CHECK(d[0].message.rfind("unknown key 'echo' in stage 'u'", 0) == 0);
  CHECK(d[0].message.find("did you mean 'echo'") == std::string::npos);
  // A near miss of another kind's key is worth suggesting.
  CHECK(lines(l.diags)[1] == "w.yaml:11:11: error: unknown key 'bsh' in stage 'v'; did you mean 'bash'?");
}

TEST_CASE("loader: a stage with two distinguishing keys is ambiguous") {
  auto l = load(with_stages(
      "        - name: s\n"
      "          bash: echo\n"
      "          run: print(1)\n"
      "        - name: t\n"
      "          foreach: [1]\n"
      "          until: ${{ true }}\n"
      "          stages: []\n"));
  CHECK(lines(l.diags) ==
        Strings{
            "w.yaml:8:11: error: ambiguous stage: it has both 'bash' and 'run'; a stage has exactly one type key",
            "w.yaml:11:11: error: ambiguous stage: it has both 'foreach' and 'until'; a stage has exactly one type key",
        });
}

TEST_CASE("loader: docker stages (image:) are not supported") {
  auto l = load(with_stages(
      "        - name: d\n"
      "          image: ubuntu:22.04\n"
      "          bash: echo\n"));
  CHECK(lines(l.diags) == Strings{"w.yaml:7:11: error: docker stages ('image:') are not supported by wf"});
}

TEST_CASE("loader: runs-on accepts local and slurm, other types are not supported") {
  auto ok = load(
      "w:\n  type: Workflow\n  jobs:\n"
      "    a: {runs-on: local, stages: []}\n"
      "    b: {runs-on: {type: local}, stages: []}\n"
      "    c: {runs-on: {type: slurm, with: {partition: debug}}, stages: []}\n");
  CHECK(lines(ok.diags).empty());
  REQUIRE(ok.file.workflows.size() == 1);
  CHECK(ok.file.workflows[0].jobs[2].runs_on == Json::parse(R"({"type": "slurm", "with": {"partition": "debug"}})"));
  CHECK(ok.file.workflows[0].jobs[0].runs_on == Json("local"));

  auto bad = load(
      "w:\n  type: Workflow\n  jobs:\n"
      "    a: {runs-on: docker, stages: []}\n"
      "    b: {runs-on: {type: k8s}, stages: []}\n"
      "    c: {runs-on: [local], stages: []}\n");
  CHECK(lines(bad.diags) == Strings{
                                "w.yaml:4:18: error: runs-on type 'docker' is not supported (supported: local, slurm)",
                                "w.yaml:5:18: error: runs-on type 'k8s' is not supported (supported: local, slurm)",
                                "w.yaml:6:18: error: 'runs-on' must be 'local' or a map with 'type:'",
                            });
}

TEST_CASE("loader: stage shape errors") {
  auto l = load(with_stages(
      "        - echo hi\n"           // 6
      "        - echo: no name\n"     // 7
      "        - name: b\n"           // 8
      "          bash: {x: 1}\n"      // 9
      "        - name: r\n"           // 10
      "          raise:\n"            // 11
      "        - name: [a]\n"         // 12
      "          echo: hi\n"));
  CHECK(lines(l.diags) == Strings{
                              "w.yaml:6:11: error: a stage must be a map (for example {name: ..., bash: ...})",
                              "w.yaml:7:11: error: a stage needs 'name:' or 'id:'",
                              "w.yaml:8:11: error: 'bash' must hold the script to run",
                              "w.yaml:9:17: error: bash must be a single value, not a map",
                              "w.yaml:10:11: error: 'raise' must hold the error message",
                              "w.yaml:12:11: error: a stage needs 'name:' or 'id:'",
                              "w.yaml:12:17: error: name must be a single value, not a list",
                          });
}

TEST_CASE("loader: stage common keys are read") {
  auto l = load(with_stages(
      "        - name: Build ${{ matrix.os }}\n"
      "          id: build\n"
      "          desc: compiles\n"
      "          if: ${{ params.go }}\n"
      "          env: {CC: gcc, N: 1}\n"
      "          retry: 2\n"
      "          timeout: 60\n"
      "          continue-on-error: true\n"
      "          working-directory: /src\n"
      "          bash: make\n"
      "        - id: only-id\n"
      "          description: long spelling\n"
      "          retry: {count: 2, delay: 5}\n"
      "          echo: hi\n"));
  CHECK(lines(l.diags).empty());
  const auto& st = l.file.workflows[0].jobs[0].stages;
  REQUIRE(st.size() == 2);
  CHECK(st[0].name->value == "Build ${{ matrix.os }}");
  CHECK(st[0].id->value == "build");
  CHECK(st[0].key() == "build");
  CHECK(st[0].desc == "compiles");
  CHECK(st[0].if_cond->value == "${{ params.go }}");
  REQUIRE(st[0].env.size() == 2);
  CHECK(st[0].env[0].first == "CC");
  CHECK(st[0].env[1].second.value == "1");
  CHECK(st[0].retry->value == "2");
  CHECK(st[0].timeout->value == "60");
  CHECK(st[0].continue_on_error);
  CHECK(st[0].working_directory->value == "/src");
  CHECK_FALSE(st[1].name.has_value());
  CHECK(st[1].key() == "only-id");
  CHECK(st[1].desc == "long spelling");
  REQUIRE(st[1].retry.has_value());
  CHECK(Json::parse(st[1].retry->value) == Json::parse(R"({"count": 2, "delay": 5})"));
}

// --- jobs ------------------------------------------------------------------------------------

TEST_CASE("loader: job keys are read") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  jobs:\n"
      "    first:\n"
      "      stages: []\n"
      "    second:\n"
      "      desc: after first\n"
      "      needs: first\n"
      "      if: ${{ params.go }}\n"
      "      env: {A: x}\n"
      "      timeout: 600\n"
      "      retry: 2\n"
      "      defaults: {shell: sh, working-directory: /w}\n"
      "      outputs:\n"
      "        files: ${{ stages.s.outputs.files }}\n"
      "      strategy:\n"
      "        matrix: {os: [linux, mac]}\n"
      "      stages:\n"
      "        - name: s\n"
      "          echo: hi\n"
      "    third:\n"
      "      needs: [first, second]\n"
      "      stages: []\n");
  CHECK(lines(l.diags).empty());
  const auto& jobs = l.file.workflows[0].jobs;
  REQUIRE(jobs.size() == 3);
  CHECK(jobs[0].name == "first");
  CHECK_FALSE(jobs[0].outputs.has_value());
  CHECK(jobs[0].strategy.is_null());
  CHECK(jobs[0].runs_on.is_null());
  const auto& j = jobs[1];
  CHECK(j.desc == "after first");
  REQUIRE(j.needs.size() == 1);
  CHECK(j.needs[0].job == "first");
  CHECK(at(j.needs[0].pos) == "8:14");
  CHECK(j.if_cond->value == "${{ params.go }}");
  CHECK(j.env.size() == 1);
  CHECK(j.timeout->value == "600");
  CHECK(j.retry->value == "2");
  CHECK(j.shell->value == "sh");
  CHECK(j.working_directory->value == "/w");
  REQUIRE(j.outputs.has_value());
  REQUIRE(j.outputs->size() == 1);
  CHECK((*j.outputs)[0].first == "files");
  CHECK((*j.outputs)[0].second.value == "${{ stages.s.outputs.files }}");
  CHECK(j.strategy == Json::parse(R"({"matrix": {"os": ["linux", "mac"]}})"));
  REQUIRE(jobs[2].needs.size() == 2);
  CHECK(jobs[2].needs[1].job == "second");
  CHECK(at(jobs[2].needs[0].pos) == "22:15");
  CHECK(at(jobs[2].needs[1].pos) == "22:22");
}

TEST_CASE("loader: job shape errors") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  jobs:\n"
      "    empty:\n"                    // 4
      "    scalar: 5\n"                 // 5
      "    a:\n"
      "      needs: {x: 1}\n"           // 7
      "      env: [A]\n"                // 8
      "      stages: {x: 1}\n"          // 9
      "    b:\n"
      "      needs: [[x]]\n"            // 11
      "      env: {A: [1]}\n"           // 12
      "      stages: []\n");
  CHECK(lines(l.diags) == Strings{
                              "w.yaml:4:5: error: job 'empty' is empty; it needs 'stages:'",
                              "w.yaml:5:13: error: job 'scalar' must be a map",
                              "w.yaml:7:14: error: 'needs' must be a job name or a list of job names",
                              "w.yaml:8:12: error: env must be a map of names to values",
                              "w.yaml:9:15: error: 'stages' must be a list of stages",
                              "w.yaml:11:15: error: 'needs' entries must be job names",
                              "w.yaml:12:16: error: env value 'A' must be a single value",
                          });
}

TEST_CASE("loader: strategy keys are strict and ddeutil spellings are normalised") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  jobs:\n"
      "    a:\n"
      "      strategy:\n"
      "        matrix: {os: [linux, mac], py: ['3.11']}\n"
      "        max_parallel: 2\n"
      "        fail_fast: true\n"
      "      stages: []\n"
      "    b:\n"
      "      strategy: {matrx: {os: [a]}}\n"
      "      stages: []\n");
  CHECK(lines(l.diags) == Strings{"w.yaml:11:18: error: unknown key 'matrx' in strategy; did you mean 'matrix'?"});
  const auto& j = l.file.workflows[0].jobs[0];
  CHECK(j.strategy ==
        Json::parse(R"({"matrix": {"os": ["linux", "mac"], "py": ["3.11"]}, "max-parallel": 2, "fail-fast": true})"));
}

// --- workflow keys ---------------------------------------------------------------------------

TEST_CASE("loader: workflow keys are read") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  desc: d\n"
      "  env: {STAGE: prod, EMPTY: }\n"
      "  defaults: {shell: sh, working-directory: /srv/etl}\n"
      "  timeout: 3600\n"
      "  max-job-parallel: 4\n"
      "  run-name: \"Load ${{ params.source }}\"\n"
      "  concurrency: {group: etl, limit: 1, strategy: cancel-new}\n"
      "  on:\n"
      "    schedule:\n"
      "      - cronjob: '*/15 * * * *'\n"
      "  jobs: {}\n");
  CHECK(lines(l.diags).empty());
  const auto& w = l.file.workflows[0];
  REQUIRE(w.env.size() == 2);
  CHECK(w.env[0].first == "STAGE");
  CHECK(w.env[0].second.value == "prod");
  CHECK(w.env[1].second.value == "");
  CHECK(w.shell->value == "sh");
  CHECK(w.working_directory->value == "/srv/etl");
  CHECK(w.timeout == 3600);
  CHECK(w.max_job_parallel == 4);
  CHECK(w.run_name->value == "Load ${{ params.source }}");
  CHECK(w.concurrency == Json::parse(R"({"group": "etl", "limit": 1, "strategy": "cancel-new"})"));
  CHECK(w.on == Json::parse(R"({"schedule": [{"cronjob": "*/15 * * * *"}]})"));
  CHECK(w.jobs.empty());
}

TEST_CASE("loader: timeout and max-job-parallel must be whole numbers >= 1") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  timeout: 0\n"
      "  max-job-parallel: 1.5\n"
      "  jobs: {}\n"
      "v:\n"
      "  type: Workflow\n"
      "  timeout: soon\n"
      "  max_job_parallel: yes\n"
      "  jobs: {}\n");
  CHECK(lines(l.diags) == Strings{
                              "w.yaml:3:12: error: timeout must be a whole number >= 1",
                              "w.yaml:4:21: error: max-job-parallel must be a whole number >= 1",
                              "w.yaml:8:12: error: timeout must be a whole number >= 1",
                              "w.yaml:9:21: error: max-job-parallel must be a whole number >= 1",
                          });
}

TEST_CASE("loader: extras maps ddeutil's config names and warns on the others") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  extras:\n"
      "    max_job_parallel: 2\n"
      "    timeout: 99\n"
      "    registry_caller: [tasks]\n"
      "    conf_path: /conf\n"
      "    enable_write_audit: false\n"
      "    audit_url: x\n"
      "  jobs: {}\n"
      "v:\n"
      "  type: Workflow\n"
      "  max-job-parallel: 7\n"
      "  extras: {max_job_parallel: 2}\n"
      "  jobs: {}\n");
  CHECK(lines(l.diags) ==
        Strings{"w.yaml:9:5: warning: extras key 'audit_url' configures ddeutil-workflow and is ignored by wf"});
  REQUIRE(l.file.workflows.size() == 2);
  CHECK(l.file.workflows[0].max_job_parallel == 2);
  CHECK(l.file.workflows[0].timeout == 99);
  CHECK(l.file.workflows[0].extras["conf_path"] == Json("/conf"));
  CHECK(l.file.workflows[1].max_job_parallel == 7);  // the workflow's own key wins
}

// --- params ----------------------------------------------------------------------------------

TEST_CASE("loader: params in shorthand and long form") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  params:\n"
      "    source: str\n"
      "    run-date: {type: date, default: \"${{ release.logical_date | fmt('%Y-%m-%d') }}\"}\n"
      "    batch-size: {type: int, default: 1000, desc: \"Rows per batch\"}\n"
      "    ratio: {type: float, default: 0.5}\n"
      "    amount: {type: decimal, precision: 2}\n"
      "    dry: {type: bool, default: false}\n"
      "    started: datetime\n"
      "    mode: {type: choice, options: [full, incremental]}\n"
      "    regions: {type: array, default: [eu, us]}\n"
      "    settings: {type: map, default: {}}\n"
      "    token: {type: str, required: true, secret: true, description: API token}\n"
      "  jobs: {}\n");
  CHECK(lines(l.diags).empty());
  const auto& ps = l.file.workflows[0].params;
  REQUIRE(ps.size() == 11);
  std::vector<std::string> names;
  std::vector<ParamType> types;
  for (const auto& p : ps) {
    names.push_back(p.name);
    types.push_back(p.type);
  }
  CHECK(names == Strings{"source", "run-date", "batch-size", "ratio", "amount", "dry", "started", "mode", "regions",
                         "settings", "token"});
  CHECK(types == std::vector<ParamType>{ParamType::Str, ParamType::Date, ParamType::Int, ParamType::Float,
                                        ParamType::Decimal, ParamType::Bool, ParamType::Datetime, ParamType::Choice,
                                        ParamType::Array, ParamType::Map, ParamType::Str});
  CHECK(at(ps[0].pos) == "4:5");
  CHECK_FALSE(ps[0].default_value.has_value());
  CHECK_FALSE(ps[0].required);
  CHECK(*ps[1].default_value == Json("${{ release.logical_date | fmt('%Y-%m-%d') }}"));
  CHECK(*ps[2].default_value == Json(1000));
  CHECK(ps[2].desc == "Rows per batch");
  CHECK(ps[4].precision == 2);
  CHECK(*ps[5].default_value == Json(false));
  CHECK(ps[7].options == std::vector<Json>{"full", "incremental"});
  CHECK(*ps[8].default_value == Json::parse(R"(["eu", "us"])"));
  CHECK(*ps[9].default_value == Json::object());
  CHECK(ps[10].required);
  CHECK(ps[10].secret);
  CHECK(ps[10].desc == "API token");
}

TEST_CASE("loader: param errors") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  params:\n"
      "    a: boool\n"                                 // 4
      "    b: {type: strng}\n"                         // 5
      "    c: {desc: no type}\n"                       // 6
      "    d: {type: choice}\n"                        // 7
      "    e: {type: str, options: [a]}\n"             // 8
      "    f: {type: int, precision: 2}\n"             // 9
      "    g: [str]\n"                                 // 10
      "    h: {type: choice, options: []}\n"           // 11
      "  jobs: {}\n"
      "v:\n"
      "  type: Workflow\n"
      "  params: [a, b]\n"                             // 15
      "  jobs: {}\n");
  const std::string types = " (types: str int float decimal bool date datetime choice array map)";
  CHECK(lines(l.diags) == Strings{
                              "w.yaml:4:8: error: unknown param type 'boool' for param 'a'; did you mean 'bool'?" + types,
                              "w.yaml:5:15: error: unknown param type 'strng' for param 'b'" + types,
                              "w.yaml:6:5: error: param 'c' has no 'type:'",
                              "w.yaml:7:5: error: choice param 'd' needs 'options:'",
                              "w.yaml:8:29: error: 'options' is only for choice params",
                              "w.yaml:9:31: error: 'precision' is only for decimal params",
                              "w.yaml:10:8: error: param 'g' must be a type name (str, int, ...) or a map with 'type:'",
                              "w.yaml:11:5: error: choice param 'h' needs 'options:'",
                              "w.yaml:11:32: error: options of param 'h' must be a non-empty list",
                              "w.yaml:15:11: error: 'params' must be a map of param names to types",
                          });
}

// --- positions -------------------------------------------------------------------------------

TEST_CASE("loader: Text values carry the line and column of their scalar") {
  auto l = load(
      "w:\n"
      "  type: Workflow\n"
      "  run-name: 'quoted ${{ run.id }}'\n"  // 3
      "  env:\n"
      "    A: plain\n"                        // 5
      "    B: \"double\"\n"                   // 6
      "  jobs:\n"
      "    a:\n"
      "      if: ${{ true }}\n"               // 9
      "      stages:\n"
      "        - name: s\n"                   // 11
      "          bash: |\n"                   // 12
      "            echo one\n"
      "            echo two\n"
      "        - {name: t, echo: flow}\n");   // 15
  CHECK(lines(l.diags).empty());
  const auto& w = l.file.workflows[0];
  CHECK(at(w.run_name->pos) == "3:13");
  CHECK(w.run_name->pos.file == "w.yaml");
  CHECK(at(w.env[0].second.pos) == "5:8");
  CHECK(at(w.env[1].second.pos) == "6:8");
  CHECK(w.env[1].second.value == "double");
  const auto& j = w.jobs[0];
  CHECK(at(j.pos) == "8:5");
  CHECK(at(j.if_cond->pos) == "9:11");
  const auto& s = j.stages[0];
  CHECK(at(s.pos) == "11:11");
  CHECK(at(s.name->pos) == "11:17");
  CHECK(at(s.bash.pos) == "12:17");  // the block indicator
  CHECK(s.bash.value == "echo one\necho two\n");
  const auto& t = j.stages[1];
  CHECK(at(t.pos) == "15:11");
  CHECK(at(t.name->pos) == "15:18");
  CHECK(at(t.echo->pos) == "15:27");
}

// --- files -----------------------------------------------------------------------------------

TEST_CASE("loader: load_workflow_file reads the file and keeps its text for diagnostics") {
  TempDir t;
  const std::string text = "w:\n  type: Workflow\n  jobs:\n    a:\n      stages:\n        - name: s\n          bash: echo\n";
  std::string path = t.write("w.yaml", text);
  DiagnosticList d;
  WorkflowFile f = wf::load_workflow_file(path, d);
  CHECK(d.items().empty());
  CHECK(f.path == path);
  CHECK(f.text == text);
  REQUIRE(f.workflows.size() == 1);
  CHECK(f.workflows[0].file == path);
  REQUIRE(d.source(path) != nullptr);
  CHECK(*d.source(path) == text);
}

TEST_CASE("loader: an unreadable file is an error naming it") {
  TempDir t;
  DiagnosticList d;
  std::string missing = t.path() + "/missing.yaml";
  WorkflowFile f = wf::load_workflow_file(missing, d);
  CHECK(f.workflows.empty());
  CHECK(f.path == missing);
  REQUIRE(d.items().size() == 1);
  CHECK(d.format(d.items()[0]) == missing + ": error: cannot read file: No such file or directory\n");
}

// --- parse_yaml_map --------------------------------------------------------------------------

TEST_CASE("loader: parse_yaml_map reads YAML or JSON maps with YAML 1.2 scalars") {
  auto r = wf::parse_yaml_map("a: 1\nb: on\nc: True\nd: ~\ne: 0x1f\nf: 1.5\ng: '1'\nh: [1, yes]\ni: {j: no}\n", "p.yaml");
  REQUIRE(r.ok());
  CHECK(*r == Json::parse(R"({"a":1,"b":"on","c":true,"d":null,"e":31,"f":1.5,"g":"1","h":[1,"yes"],"i":{"j":"no"}})"));
  auto j = wf::parse_yaml_map(R"({"a": {"b": null, "c": [true, 2.5, "x"]}})", "p.json");
  REQUIRE(j.ok());
  CHECK(*j == Json::parse(R"({"a": {"b": null, "c": [true, 2.5, "x"]}})"));
  auto e = wf::parse_yaml_map("", "p.yaml");
  REQUIRE(e.ok());
  CHECK(*e == Json::object());
}

TEST_CASE("loader: parse_yaml_map rejects what is not a map") {
  auto list = wf::parse_yaml_map("[1, 2]", "p.yaml");
  REQUIRE_FALSE(list.ok());
  CHECK(list.error().message == "p.yaml: expected a map of param names to values");
  auto scalar = wf::parse_yaml_map("hello", "p.yaml");
  REQUIRE_FALSE(scalar.ok());
  CHECK(scalar.error().message == "p.yaml: expected a map of param names to values");
  auto bad = wf::parse_yaml_map("a: 1\nb: [2\n", "p.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "p.yaml:3:1: invalid YAML/JSON: end of sequence flow not found");
}
