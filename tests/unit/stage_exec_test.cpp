// A run's stage directory: where it is made, and what crash recovery removes (and does not).
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>

#include "stage_exec.hpp"
#include "temp_dir.hpp"

using wf::test::TempDir;

namespace {

// Sets $TMPDIR for a scope and puts the old value back.
class TmpdirIs {
 public:
  explicit TmpdirIs(const std::string& dir) {
    if (const char* v = ::getenv("TMPDIR")) old_ = v;
    ::setenv("TMPDIR", dir.c_str(), 1);
  }
  ~TmpdirIs() {
    if (old_) ::setenv("TMPDIR", old_->c_str(), 1);
    else ::unsetenv("TMPDIR");
  }
  TmpdirIs(const TmpdirIs&) = delete;
  TmpdirIs& operator=(const TmpdirIs&) = delete;

 private:
  std::optional<std::string> old_;
};

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

void touch(const std::string& path) { std::ofstream(path) << "x\n"; }

}  // namespace

TEST_CASE("a run's stage directory is found by recovery where it was recorded, and only if it is the run's") {
  TempDir root("wf_stage_dirs");
  TempDir elsewhere("wf_stage_dirs_other");
  // Unique ids: recovery also looks under /dev/shm and /tmp.
  const std::string id = "unit-" + std::to_string(::getpid());
  const std::string other_id = id + "-other";

  std::string named, random;
  {
    TmpdirIs t(root.path());
    named = wf::make_run_temp_dir(id);
    CHECK(named == root / ("wf-run-" + id));
    // The name is taken: a random one, with a marker saying whose it is.
    random = wf::make_run_temp_dir(id);
    REQUIRE_FALSE(random.empty());
    CHECK(random != named);
    CHECK(random.rfind(root / "wf-run-", 0) == 0);
    CHECK(exists(random + "/.wf-run-" + id));
    touch(named + "/1.sh");
    touch(random + "/1.sh");
  }

  // The recovering wf's $TMPDIR is somewhere else: the recorded directory is still found.
  TmpdirIs t(elsewhere.path());
  wf::remove_run_temp_dir(other_id, random);  // another run's record: not its directory
  CHECK(exists(random + "/1.sh"));
  wf::remove_run_temp_dir(id, "relative/wf-run-" + id);  // not an absolute path: ignored
  wf::remove_run_temp_dir(id, random);
  CHECK_FALSE(exists(random));
  CHECK(exists(named + "/1.sh"));  // not recorded, and not under any root this wf knows
  wf::remove_run_temp_dir(id, named);
  CHECK_FALSE(exists(named));

  // A link by the run's name is not followed, and a directory without the marker is not taken.
  const std::string target = elsewhere / "target";
  REQUIRE(::mkdir(target.c_str(), 0700) == 0);
  touch(target + "/keep");
  const std::string link = root / ("wf-run-" + id);
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  wf::remove_run_temp_dir(id, link);
  CHECK(exists(target + "/keep"));
  const std::string unmarked = root / "wf-run-abcdef";
  REQUIRE(::mkdir(unmarked.c_str(), 0700) == 0);
  touch(unmarked + "/keep");
  wf::remove_run_temp_dir(id, unmarked);
  CHECK(exists(unmarked + "/keep"));
}
