#include "wf/catalog.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using wf::Catalog;
using wf::DiagnosticList;

namespace {

struct Strings : std::vector<std::string> {
  using std::vector<std::string>::vector;
  Strings() = default;
  Strings(std::vector<std::string> v) : std::vector<std::string>(std::move(v)) {}
};
using Env = std::map<std::string, std::string>;

// A fresh directory under /tmp, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/wf_catalog_test_XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

  // Writes `text` to `rel` (creating directories on the way) and returns the full path.
  std::string write(const std::string& rel, const std::string& text) const {
    fs::path p = fs::path(path_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  void mkdir(const std::string& rel) const { fs::create_directories(fs::path(path_) / rel); }

  // workflow_files_in(path()) relative to path(), for short expectations.
  Strings files() const {
    Strings out;
    for (const auto& f : wf::workflow_files_in(path_)) {
      REQUIRE(f.rfind(path_ + "/", 0) == 0);
      out.push_back(f.substr(path_.size() + 1));
    }
    return out;
  }

 private:
  std::string path_;
};

std::string workflow(const std::string& name) {
  return name + ":\n  type: Workflow\n  jobs:\n    a:\n      stages:\n        - name: s\n          echo: hi\n";
}

Strings dirs(const std::vector<std::string>& cli, const Env& env) { return wf::config_dirs(cli, env); }

Strings messages(const DiagnosticList& d) {
  Strings out;
  for (const auto& x : d.sorted()) out.push_back(x.message);
  return out;
}

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

// --- config_dirs ---------------------------------------------------------------------------

TEST_CASE("catalog: config_dirs prefers --conf over every variable") {
  Env env{{"WF_CONF_PATH", "/env/a"}, {"WORKFLOW_CORE_CONF_PATH", "/core"}};
  CHECK(dirs({"/cli/one", "/cli/two"}, env) == Strings{"/cli/one", "/cli/two"});
}

TEST_CASE("catalog: config_dirs reads WF_CONF_PATH as a colon-separated list") {
  Env env{{"WF_CONF_PATH", "/a:/b/c::relative:"}, {"WORKFLOW_CORE_CONF_PATH", "/core"}};
  CHECK(dirs({}, env) == Strings{"/a", "/b/c", "relative"});
}

TEST_CASE("catalog: config_dirs falls back to WORKFLOW_CORE_CONF_PATH") {
  CHECK(dirs({}, Env{{"WORKFLOW_CORE_CONF_PATH", "/core"}}) == Strings{"/core"});
  // An empty WF_CONF_PATH counts as unset.
  CHECK(dirs({}, Env{{"WF_CONF_PATH", ""}, {"WORKFLOW_CORE_CONF_PATH", "/core"}}) == Strings{"/core"});
  CHECK(dirs({}, Env{{"WF_CONF_PATH", ":"}, {"WORKFLOW_CORE_CONF_PATH", "/core"}}) == Strings{"/core"});
}

TEST_CASE("catalog: config_dirs defaults to ./conf") {
  CHECK(dirs({}, Env{}) == Strings{"./conf"});
  CHECK(dirs({}, Env{{"HOME", "/home/x"}, {"WORKFLOW_CORE_CONF_PATH", ""}}) == Strings{"./conf"});
}

// --- workflow_files_in -----------------------------------------------------------------------

TEST_CASE("catalog: workflow_files_in walks recursively for *.yml and *.yaml, sorted") {
  TempDir t;
  t.write("b.yaml", "");
  t.write("a.yml", "");
  t.write("sub/deep/c.yaml", "");
  t.write("sub/d.yml", "");
  t.write("notes.txt", "");
  t.write("sub/e.json", "");
  t.write("yaml", "");          // no extension
  t.write("f.yaml.bak", "");    // wrong extension
  t.mkdir("empty.yaml.d");
  CHECK(t.files() == Strings{"a.yml", "b.yaml", "sub/d.yml", "sub/deep/c.yaml"});
}

TEST_CASE("catalog: workflow_files_in of a missing directory or a file is empty") {
  TempDir t;
  CHECK(wf::workflow_files_in(t / "nope").empty());
  std::string file = t.write("w.yaml", "");
  CHECK(wf::workflow_files_in(file).empty());
}

TEST_CASE("catalog: .confignore skips files and whole directories, comments and blank lines ignored") {
  TempDir t;
  t.write(".confignore",
          "# drafts are not ready\n"
          "\n"
          "draft-*.yaml\n"
          "archive/\n"
          "/top-only.yaml\n"
          "templates/*.yml\n");
  t.write("keep.yaml", "");
  t.write("draft-1.yaml", "");
  t.write("sub/draft-2.yaml", "");        // a pattern without '/' matches at any depth
  t.write("archive/old.yaml", "");
  t.write("sub/archive/old.yaml", "");    // a directory pattern matches at any depth too
  t.write("top-only.yaml", "");
  t.write("sub/top-only.yaml", "");       // '/...' is anchored at the root
  t.write("templates/t.yml", "");
  t.write("templates/nested/t.yml", "");  // '*' does not cross '/'
  t.write("sub/templates/t.yml", "");     // a pattern with '/' is anchored
  CHECK(t.files() == Strings{"keep.yaml", "sub/templates/t.yml", "sub/top-only.yaml", "templates/nested/t.yml"});
}

TEST_CASE("catalog: .confignore negation re-includes a file, the last matching line wins") {
  TempDir t;
  t.write(".confignore",
          "*.yaml\n"
          "!keep-*.yaml\n"
          "keep-not.yaml\n");
  t.write("a.yaml", "");
  t.write("keep-me.yaml", "");
  t.write("sub/keep-too.yaml", "");
  t.write("keep-not.yaml", "");
  t.write("b.yml", "");
  CHECK(t.files() == Strings{"b.yml", "keep-me.yaml", "sub/keep-too.yaml"});
}

TEST_CASE("catalog: .confignore cannot re-include a file inside an ignored directory (as git)") {
  TempDir t;
  t.write(".confignore", "old/\n!old/keep.yaml\n");
  t.write("old/keep.yaml", "");
  t.write("old/drop.yaml", "");
  t.write("new.yaml", "");
  CHECK(t.files() == Strings{"new.yaml"});
}

TEST_CASE("catalog: .confignore trailing '/' matches only directories") {
  TempDir t;
  t.write(".confignore", "gen.yaml/\n");
  t.write("gen.yaml", "");            // a file: kept
  t.write("sub/gen.yaml/x.yaml", "");  // a directory named gen.yaml: skipped
  CHECK(t.files() == Strings{"gen.yaml"});
}

TEST_CASE("catalog: .confignore '**/' matches in every directory, also the root") {
  TempDir t;
  t.write(".confignore", "**/scratch.yaml\n**/tmp/\n");
  t.write("scratch.yaml", "");
  t.write("a/b/scratch.yaml", "");
  t.write("tmp/x.yaml", "");
  t.write("a/tmp/y.yaml", "");
  t.write("a/ok.yaml", "");
  CHECK(t.files() == Strings{"a/ok.yaml"});
}

TEST_CASE("catalog: .confignore with CRLF line endings and trailing spaces") {
  TempDir t;
  t.write(".confignore", "# comment\r\nskip.yaml  \r\n");
  t.write("skip.yaml", "");
  t.write("keep.yaml", "");
  CHECK(t.files() == Strings{"keep.yaml"});
}

TEST_CASE("catalog: only the .confignore at the root of the directory is read") {
  TempDir t;
  t.write("root.yaml", "");
  t.write("sub/.confignore", "*.yaml\n");  // not at the root: no effect
  t.write("sub/kept.yaml", "");
  CHECK(t.files() == Strings{"root.yaml", "sub/kept.yaml"});
}

TEST_CASE("catalog: ignore_pattern_matches follows gitignore rules") {
  using wf::ignore_pattern_matches;
  SUBCASE("no slash: the last component at any depth, files and directories") {
    CHECK(ignore_pattern_matches("*.yaml", "a.yaml", false));
    CHECK(ignore_pattern_matches("*.yaml", "x/y/a.yaml", false));
    CHECK(ignore_pattern_matches("build", "build", true));
    CHECK(ignore_pattern_matches("build", "x/build", true));
    CHECK(ignore_pattern_matches("build", "x/build", false));
    CHECK_FALSE(ignore_pattern_matches("build", "build2", true));
    CHECK(ignore_pattern_matches("a?.yaml", "ab.yaml", false));
    CHECK(ignore_pattern_matches("[ab].yaml", "b.yaml", false));
    CHECK_FALSE(ignore_pattern_matches("[ab].yaml", "c.yaml", false));
  }
  SUBCASE("trailing slash: directories only") {
    CHECK(ignore_pattern_matches("build/", "build", true));
    CHECK(ignore_pattern_matches("build/", "x/build", true));
    CHECK_FALSE(ignore_pattern_matches("build/", "build", false));
  }
  SUBCASE("a slash at the start or in the middle anchors the pattern at the root") {
    CHECK(ignore_pattern_matches("/a.yaml", "a.yaml", false));
    CHECK_FALSE(ignore_pattern_matches("/a.yaml", "x/a.yaml", false));
    CHECK(ignore_pattern_matches("doc/*.yaml", "doc/a.yaml", false));
    CHECK_FALSE(ignore_pattern_matches("doc/*.yaml", "x/doc/a.yaml", false));
    CHECK_FALSE(ignore_pattern_matches("doc/*.yaml", "doc/x/a.yaml", false));
    CHECK(ignore_pattern_matches("a/b/", "a/b", true));
    CHECK_FALSE(ignore_pattern_matches("a/b/", "a/b", false));
    CHECK_FALSE(ignore_pattern_matches("a/b/", "x/a/b", true));
  }
  SUBCASE("leading **/ matches in all directories") {
    CHECK(ignore_pattern_matches("**/foo.yaml", "foo.yaml", false));
    CHECK(ignore_pattern_matches("**/foo.yaml", "a/foo.yaml", false));
    CHECK(ignore_pattern_matches("**/foo.yaml", "a/b/c/foo.yaml", false));
    CHECK_FALSE(ignore_pattern_matches("**/foo.yaml", "a/foo.yml", false));
    CHECK(ignore_pattern_matches("**/x/foo.yaml", "a/x/foo.yaml", false));
    CHECK_FALSE(ignore_pattern_matches("**/x/foo.yaml", "a/y/foo.yaml", false));
  }
  SUBCASE("trailing /** matches everything inside, not the directory itself") {
    CHECK(ignore_pattern_matches("gen/**", "gen/a.yaml", false));
    CHECK(ignore_pattern_matches("gen/**", "gen/x/y/a.yaml", false));
    CHECK_FALSE(ignore_pattern_matches("gen/**", "gen", true));
    CHECK_FALSE(ignore_pattern_matches("gen/**", "other/gen/a.yaml", false));
  }
  SUBCASE("/**/ in the middle matches zero or more directories") {
    CHECK(ignore_pattern_matches("a/**/b.yaml", "a/b.yaml", false));
    CHECK(ignore_pattern_matches("a/**/b.yaml", "a/x/b.yaml", false));
    CHECK(ignore_pattern_matches("a/**/b.yaml", "a/x/y/b.yaml", false));
    CHECK_FALSE(ignore_pattern_matches("a/**/b.yaml", "z/a/x/b.yaml", false));
  }
  SUBCASE("a backslash escapes a leading '#' or '!'") {
    CHECK(ignore_pattern_matches("\\#x.yaml", "#x.yaml", false));
    CHECK(ignore_pattern_matches("\\!x.yaml", "!x.yaml", false));
  }
  SUBCASE("an empty pattern matches nothing") {
    CHECK_FALSE(ignore_pattern_matches("", "a.yaml", false));
    CHECK_FALSE(ignore_pattern_matches("/", "a", true));
  }
}

TEST_CASE("catalog: .confignore lines starting with an escaped '#' or '!' are patterns") {
  TempDir t;
  t.write(".confignore", "\\#hash.yaml\n\\!bang.yaml\n");
  t.write("#hash.yaml", "");
  t.write("!bang.yaml", "");
  t.write("ok.yaml", "");
  CHECK(t.files() == Strings{"ok.yaml"});
}

// --- Catalog ---------------------------------------------------------------------------------

TEST_CASE("catalog: load finds workflows in every file and directory, names() sorted") {
  TempDir one, two;
  one.write("etl.yaml", workflow("etl-daily") + workflow("etl-hourly"));
  one.write("sub/report.yml", "name: report\ntype: Workflow\njobs:\n  a:\n    stages:\n      - name: s\n        echo: hi\n");
  one.write("sub/sched.yaml", "nightly:\n  type: Schedule\n");
  two.write("zeta.yaml", workflow("zeta"));
  DiagnosticList d;
  Catalog c = Catalog::load({one.path(), two.path()}, d);
  CHECK(d.error_count() == 0);
  CHECK(c.names() == Strings{"etl-daily", "etl-hourly", "report", "zeta"});
  CHECK(c.files().size() == 4);

  const wf::Workflow* w = c.find("report");
  REQUIRE(w != nullptr);
  CHECK(w->name == "report");
  CHECK(w->file == one / "sub/report.yml");
  const wf::WorkflowFile* f = c.file_of(*w);
  REQUIRE(f != nullptr);
  CHECK(f->path == one / "sub/report.yml");

  REQUIRE(c.find("zeta") != nullptr);
  CHECK(c.find("zeta")->file == two / "zeta.yaml");
  CHECK(c.find("nightly") == nullptr);  // not a workflow
  CHECK(c.find("nope") == nullptr);
}

TEST_CASE("catalog: files listed in .confignore are not loaded") {
  TempDir t;
  t.write(".confignore", "broken.yaml\n");
  t.write("broken.yaml", "this: [is not yaml\n");
  t.write("good.yaml", workflow("good"));
  DiagnosticList d;
  Catalog c = Catalog::load({t.path()}, d);
  CHECK(d.items().empty());
  CHECK(c.names() == Strings{"good"});
}

TEST_CASE("catalog: the same workflow name in two files is an error naming both files") {
  TempDir t;
  std::string a = t.write("a.yaml", "# first\n" + workflow("etl"));
  std::string b = t.write("sub/b.yaml", workflow("other") + workflow("etl"));
  DiagnosticList d;
  Catalog c = Catalog::load({t.path()}, d);
  REQUIRE(d.error_count() == 1);
  const wf::Diagnostic& e = d.items()[0];
  CHECK(e.message == "workflow 'etl' is defined twice: in " + a + ":2 and in " + b + ":8");
  CHECK(e.pos.file == b);
  CHECK(e.pos.line == 8);
  CHECK(e.pos.col == 1);
  // The first one found stays the one that `find` returns.
  REQUIRE(c.find("etl") != nullptr);
  CHECK(c.find("etl")->file == a);
  CHECK(c.names() == Strings{"etl", "other"});
}

TEST_CASE("catalog: the same workflow name in two config directories is an error") {
  TempDir one, two;
  std::string a = one.write("w.yaml", workflow("dup"));
  std::string b = two.write("w.yaml", workflow("dup"));
  DiagnosticList d;
  Catalog c = Catalog::load({one.path(), two.path()}, d);
  CHECK(messages(d) == Strings{"workflow 'dup' is defined twice: in " + a + ":1 and in " + b + ":1"});
}

TEST_CASE("catalog: the same directory or file twice is not a duplicate") {
  TempDir t;
  std::string path = t.write("w.yaml", workflow("once"));
  DiagnosticList d;
  Catalog c = Catalog::load({t.path(), t.path()}, d);
  c.add_file(wf::load_workflow_file(path, d), d);
  CHECK(d.items().empty());
  CHECK(c.files().size() == 1);
  CHECK(c.names() == Strings{"once"});
}

TEST_CASE("catalog: add_file adds a file given on the command line and checks its names") {
  TempDir t;
  std::string in_conf = t.write("conf/w.yaml", workflow("shared"));
  std::string extra = t.write("extra.yaml", workflow("shared") + workflow("solo"));
  DiagnosticList d;
  Catalog c = Catalog::load({t / "conf"}, d);
  c.add_file(wf::load_workflow_file(extra, d), d);
  CHECK(messages(d) == Strings{"workflow 'shared' is defined twice: in " + in_conf + ":1 and in " + extra + ":1"});
  CHECK(c.names() == Strings{"shared", "solo"});
}

TEST_CASE("catalog: loading problems in one file are reported and other files still load") {
  TempDir t;
  std::string bad = t.write("bad.yaml", "w:\n  type: Workflow\n  jobz: {}\n");
  t.write("good.yaml", workflow("good"));
  DiagnosticList d;
  Catalog c = Catalog::load({t.path()}, d);
  CHECK(d.has_errors());
  REQUIRE_FALSE(d.items().empty());
  CHECK(d.sorted()[0].pos.file == bad);
  CHECK(c.find("good") != nullptr);
}

TEST_CASE("catalog: a missing config directory holds nothing") {
  TempDir t;
  DiagnosticList d;
  Catalog c = Catalog::load({t / "missing"}, d);
  CHECK(c.names().empty());
  CHECK(c.files().empty());
}
