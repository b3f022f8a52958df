// Crash recovery and Slurm: an interrupted run's Slurm stages are closed without touching
// their jobs, and a rerun finds the jobs to attach to.
#include "wf/recovery.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

using wf::RunStore;
using wf::Status;

namespace {

struct TempDir : wf::test::TempDir {
  TempDir() : wf::test::TempDir("wf_recovery") {}
};


wf::StageRecord stage(std::int64_t instance, int index, const std::string& external_id, Status st = Status::Wait,
                      int attempt = 1) {
  wf::StageRecord s;
  s.job_instance_id = instance;
  s.index = index;
  s.stage_key = "s" + std::to_string(index);
  s.name = s.stage_key;
  s.attempt = attempt;
  s.status = st;
  s.exit_code = st == Status::Success ? 0 : st == Status::Failed ? 2 : -1;
  s.external_id = external_id;
  return s;
}

}  // namespace

TEST_CASE("recovery: Slurm stages of an interrupted run are closed and found again for the rerun") {
  TempDir tmp;
  auto opened = RunStore::open(tmp.path());
  REQUIRE(opened.ok());
  RunStore& store = **opened;
  wf::RunRecord run;
  run.id = "R1";
  run.workflow = "w";
  run.status = Status::Wait;
  run.pid = 999999999;  // no such process
  run.host = wf::this_host();
  REQUIRE(store.insert_run(run).ok());
  auto add_instance = [&](const std::string& name) {
    wf::JobInstanceRecord ji;
    ji.run_id = "R1";
    ji.job = "j";
    ji.display_name = name;
    ji.status = Status::Wait;
    return store.insert_job_instance(ji).value();
  };
  std::int64_t leg1 = add_instance("j (1)"), leg2 = add_instance("j (2)");
  REQUIRE(store.insert_stage(stage(leg1, 0, "slurm:11:/s/R1/1", Status::Success)).ok());
  REQUIRE(store.insert_stage(stage(leg1, 1, "slurm:12:/s/R1/2", Status::Failed)).ok());
  REQUIRE(store.insert_stage(stage(leg1, 1, "slurm:13:/s/R1/3", Status::Wait, 2)).ok());
  REQUIRE(store.insert_stage(stage(leg2, 0, "slurm:14:/s/R1/4", Status::Wait)).ok());

  auto closed = wf::close_interrupted_runs(store);
  REQUIRE(closed.ok());
  CHECK(*closed == 1);
  auto stages = store.stages(leg1);
  REQUIRE(stages.ok());
  CHECK((*stages)[2].status == Status::Cancel);
  CHECK((*stages)[2].error_name == "Interrupted");
  CHECK((*stages)[2].error_message ==
        "wf (pid 999999999) stopped while this stage ran; its Slurm job 13 was left to finish ('wf rerun R1' collects it)");

  auto found = wf::slurm_jobs_to_reattach(store, "R1", 1);
  REQUIRE(found.ok());
  CHECK(found->size() == 4);
  CHECK(found->at(wf::slurm_stage_key("j (1)", 0, "s0", 1)) == "slurm:11:/s/R1/1");
  CHECK(found->at(wf::slurm_stage_key("j (1)", 1, "s1", 1)) == "slurm:12:/s/R1/2");
  CHECK(found->at(wf::slurm_stage_key("j (1)", 1, "s1", 2)) == "slurm:13:/s/R1/3");
  CHECK(found->at(wf::slurm_stage_key("j (2)", 0, "s0", 1)) == "slurm:14:/s/R1/4");
}

TEST_CASE("recovery: a job instance that ended normally gives nothing to reattach") {
  TempDir tmp;
  auto opened = RunStore::open(tmp.path());
  REQUIRE(opened.ok());
  RunStore& store = **opened;
  wf::RunRecord run;
  run.id = "R2";
  run.workflow = "w";
  run.status = Status::Failed;
  REQUIRE(store.insert_run(run).ok());
  wf::JobInstanceRecord ji;
  ji.run_id = "R2";
  ji.job = "j";
  ji.display_name = "j";
  ji.status = Status::Failed;
  ji.error_name = "TimeoutError";
  std::int64_t id = store.insert_job_instance(ji).value();
  REQUIRE(store.insert_stage(stage(id, 0, "slurm:21:/s/R2/1", Status::Success)).ok());
  auto found = wf::slurm_jobs_to_reattach(store, "R2", 1);
  REQUIRE(found.ok());
  CHECK(found->empty());
}
