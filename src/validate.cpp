#include "wf/validate.hpp"

#include "run_state.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <unordered_set>

#include "wf/cron.hpp"
#include "wf/dag.hpp"
#include "wf/expr.hpp"
#include "wf/matrix.hpp"
#include "wf/params.hpp"
#include "wf/slurm.hpp"

namespace wf {

namespace {

const std::vector<std::string> kNamespaces = {"params", "env",  "matrix", "needs", "jobs",  "stages", "item",
                                              "loop",   "branch", "case", "retry", "run", "release"};

// Where an expression stands decides which names it may use.
struct Scope {
  const Workflow* wf = nullptr;
  const Job* job = nullptr;                 // null at workflow level
  std::set<std::string> earlier_stages;     // stage keys visible here
  bool all_stages = false;                  // job outputs: every stage of the job
  bool matrix_only = false;                 // stage name/id
  bool in_bash = false;
};

// Sets a flag for the life of the guard.
struct FlagGuard {
  bool& flag;
  bool saved;
  FlagGuard(bool& f, bool value) : flag(f), saved(f) { flag = value; }
  ~FlagGuard() { flag = saved; }
  FlagGuard(const FlagGuard&) = delete;
  FlagGuard& operator=(const FlagGuard&) = delete;
};

}  // namespace

SourcePos locate_in_source(const Text& t, std::size_t offset, const std::string* source) {
  SourcePos base = t.pos;
  if (!source || base.line <= 0) return base;
  offset = std::min(offset, t.value.size());
  // Take the value's text from `offset` to the end of its line as the needle.
  std::size_t eol = t.value.find('\n', offset);
  std::string needle = t.value.substr(offset, std::min<std::size_t>(eol == std::string::npos ? std::string::npos : eol - offset, 40));
  std::size_t from = offset_of(*source, base.line, base.col);
  // Skip the copies of the needle that stand before `offset` in the value itself, so the
  // second of two equal expressions is found at its own place.
  std::size_t earlier = 0;
  for (std::size_t p = t.value.find(needle); !needle.empty() && p != std::string::npos && p < offset;
       p = t.value.find(needle, p + 1))
    ++earlier;
  if (!needle.empty()) {
    std::size_t found = source->find(needle, from);
    for (std::size_t k = 0; k < earlier && found != std::string::npos; ++k) found = source->find(needle, found + 1);
    if (found != std::string::npos && found - from <= t.value.size() * 2 + 256)
      return position_of(*source, found, base.file);
  }
  // Fall back to counting within the value, on the scalar's first line.
  std::size_t lines = static_cast<std::size_t>(std::count(t.value.begin(), t.value.begin() + offset, '\n'));
  if (lines == 0) return SourcePos{base.file, base.line, base.col + static_cast<int>(offset)};
  return base;
}

namespace {

class Validator {
 public:
  Validator(const Workflow& w, DiagnosticList& diags, std::size_t max_legs)
      : w_(w), diags_(diags), src_(diags.source(w.file)), max_legs_(max_legs) {}

  void run() {
    check_needs();
    for (const auto& p : w_.params) param_names_.push_back(p.name);
    Scope top{&w_, nullptr, {}, false, false, false};
    for (const auto& [k, v] : w_.env) check_text(v, top);
    if (w_.run_name) check_text(*w_.run_name, top);
    for (const auto& p : w_.params) {
      if (p.default_value && p.default_value->is_string())
        check_text(Text{p.default_value->get<std::string>(), p.pos}, top);
    }
    for (const auto& j : w_.jobs) check_job(j);
    check_schedules();
  }

  void check_schedules() {
    for (const auto& s : w_.schedules) {
      auto sched = CronSchedule::make(s.cron.value, s.tz);
      if (!sched.ok()) {
        bool tz_problem = sched.error().message.find("time zone") != std::string::npos && s.tz_pos.line > 0;
        diags_.error(tz_problem ? s.tz_pos : s.cron.pos, sched.error().message);
        continue;
      }
      if (!sched->expr().can_ever_fire())
        diags_.warning(s.cron.pos, "cron expression '" + s.cron.value + "' can never fire");
    }
  }

 private:
  void check_needs() {
    std::vector<std::string> names;
    for (const auto& j : w_.jobs) names.push_back(j.name);
    const std::unordered_set<std::string_view> known(names.begin(), names.end());
    for (const auto& j : w_.jobs) {
      std::set<std::string> seen;
      for (const auto& n : j.needs) {
        if (!seen.insert(n.job).second) {
          diags_.warning(n.pos, "job '" + j.name + "' lists '" + n.job + "' in 'needs' twice");
          continue;
        }
        if (n.job == j.name) {
          diags_.error(n.pos, "job '" + j.name + "' needs itself");
          continue;
        }
        if (!known.count(n.job)) {
          std::string msg = "job '" + j.name + "' needs unknown job '" + n.job + "'";
          std::string hint = closest_match(n.job, names);
          if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
          diags_.error(n.pos, msg);
        }
      }
    }
    JobGraph g = build_job_graph(w_);
    auto cycle = find_cycle(w_, g);
    bool self_need = cycle.has_value() && cycle->size() == 2;  // needs itself: said above
    if (cycle && !self_need) {
      std::string chain;
      for (std::size_t i = 0; i < cycle->size(); ++i) chain += (i ? " -> " : "") + (*cycle)[i];
      const Job* first = w_.find_job(cycle->front());
      diags_.error(first ? first->pos : w_.pos, "workflow '" + w_.name + "' has a cycle in 'needs': " + chain);
    }
  }

  // Strategy strings may hold templates (a dynamic matrix); a static matrix is expanded
  // here so that its mistakes show before anything runs.
  void check_strategy(const Job& j, const Scope& js) {
    if (!j.strategy.is_object()) return;
    bool dynamic = false;
    std::function<void(const Json&)> walk = [&](const Json& v) {
      if (v.is_string() && v.get_ref<const std::string&>().find("${{") != std::string::npos) {
        dynamic = true;
        check_text(Text{v.get<std::string>(), j.pos}, js);
      } else if (v.is_structured()) {
        for (const auto& e : v) walk(e);
      }
    };
    walk(j.strategy);
    if (dynamic) return;
    Json matrix = j.strategy.value("matrix", Json::object());
    if (!matrix.is_object()) return;
    auto parts = split_matrix(matrix, j.matrix_keys, j.strategy.value("include", Json::array()),
                              j.strategy.value("exclude", Json::array()));
    if (!parts.ok()) {
      diags_.error(j.pos, "job '" + j.name + "': " + parts.error().message);
      return;
    }
    auto legs = expand_matrix(*parts, max_legs_);
    if (!legs.ok()) diags_.error(j.pos, "job '" + j.name + "': " + legs.error().message);
  }

  // runs-on: {type: slurm, with: {...}}: known keys only, values sbatch can take.
  void check_slurm(const Job& j) {
    if (!runs_on_slurm(j.runs_on) || !j.runs_on.is_object() || !j.runs_on.contains("with")) return;
    const Json& with = j.runs_on["with"];
    if (with.is_object()) {
      std::vector<std::string> keys = slurm_with_keys();
      for (auto it = with.begin(); it != with.end(); ++it) {
        std::string key = it.key();
        std::replace(key.begin(), key.end(), '_', '-');
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
          std::string msg = "job '" + j.name + "': unknown key '" + it.key() + "' in runs-on.with";
          std::string hint = closest_match(key, keys);
          msg += hint.empty() ? " (slurm accepts: partition, time, cpus-per-task, mem, account, qos, extra-args)"
                              : "; did you mean '" + hint + "'?";
          diags_.error(j.pos, msg);
        } else if (json_text(it.value()).find("${{") != std::string::npos) {
          diags_.error(j.pos, "job '" + j.name + "': runs-on.with." + key + " cannot use expressions");
        }
      }
    }
    if (auto args = sbatch_options(j.runs_on); !args.ok())
      diags_.error(j.pos, "job '" + j.name + "': " + args.error().message);
  }

  void check_job(const Job& j) {
    Scope js{&w_, &j, {}, false, false, false};
    check_slurm(j);
    check_strategy(j, js);
    for (const auto& [k, v] : j.env) check_text(v, js);
    if (j.if_cond) check_condition(*j.if_cond, js);
    if (j.timeout) check_seconds(*j.timeout, js, "timeout");
    if (j.retry) check_text(*j.retry, js);
    if (j.working_directory) check_text(*j.working_directory, js);
    check_stage_list(j.stages, js, "job '" + j.name + "'");
    if (j.outputs) {
      Scope os = js;
      os.all_stages = true;
      for (const auto& s : j.stages) os.earlier_stages.insert(s.key());
      for (const auto& [k, v] : *j.outputs) check_text(v, os);
    }
  }

  // One stage list: ids unique in it, and each stage sees the ones before it.
  void check_stage_list(const std::vector<Stage>& stages, const Scope& outer, const std::string& where) {
    std::set<std::string> ids;
    Scope ss = outer;
    for (const auto& s : stages) {
      if (s.id) {
        if (!ids.insert(s.id->value).second)
          diags_.error(s.id->pos, "duplicate stage id '" + s.id->value + "' in " + where);
      }
      check_stage(s, ss);
      if (!s.key().empty()) ss.earlier_stages.insert(s.key());
    }
  }

  // `scope` is check_stage_list's own copy: the flags below are set for a call and restored,
  // instead of copying the scope (and its set of earlier stages) for each stage.
  void check_stage(const Stage& s, Scope& scope) {
    for (const auto& l : s.lists) {
      std::string where = s.kind == StageKind::Parallel ? "branch '" + l.label + "'"
                          : s.kind == StageKind::Case   ? "case '" + l.label + "'"
                                                        : "stage '" + s.key() + "'";
      if (l.value_text) check_text(*l.value_text, scope);
      check_stage_list(l.stages, scope, where);
    }
    if (s.kind == StageKind::Trigger) {
      check_text(s.trigger, scope);
      check_json(s.trigger_params, s.pos, scope);
      if (s.trigger.value == w_.name)
        diags_.error(s.trigger.pos, "trigger cycle: workflow '" + w_.name + "' triggers itself");
    }
    if (s.kind == StageKind::Foreach && s.foreach_items.is_string())
      check_text(Text{s.foreach_items.get<std::string>(), s.foreach_pos}, scope);
    else if (s.kind == StageKind::Foreach)
      check_json(s.foreach_items, s.foreach_pos, scope);
    if (s.kind == StageKind::Until) {
      Scope us = scope;
      for (const auto& l : s.lists)
        for (const auto& inner : l.stages) us.earlier_stages.insert(inner.key());
      check_condition(s.until, us);
      check_json(s.until_item, s.pos, scope);
    }
    if (s.kind == StageKind::Case) check_text(s.case_value, scope);
    for (const auto* t : {&s.max_workers, &s.concurrent, &s.max_loop})
      if (*t) check_text(**t, scope);
    {
      FlagGuard named(scope.matrix_only, true);
      if (s.name) check_text(*s.name, scope);
      if (s.id) check_text(*s.id, scope);
    }
    if (s.if_cond) check_condition(*s.if_cond, scope);
    for (const auto& [k, v] : s.env) check_text(v, scope);
    if (s.retry) check_text(*s.retry, scope);
    if (s.timeout) check_seconds(*s.timeout, scope, "timeout");
    if (s.working_directory) check_text(*s.working_directory, scope);
    if (s.echo) check_text(*s.echo, scope);
    if (s.sleep) check_seconds(*s.sleep, scope, "sleep");
    if (s.shell) check_text(*s.shell, scope);
    if (s.kind == StageKind::Raise) check_text(s.raise, scope);
    if (s.kind == StageKind::Call) {
      check_text(s.uses, scope);
      check_json(s.with, s.pos, scope);
    }
    if (s.kind == StageKind::Python) {
      check_text(s.run, scope);
      check_json(s.vars, s.pos, scope);
    }
    if (s.kind == StageKind::Bash) {
      FlagGuard bash(scope.in_bash, true);
      check_text(s.bash, scope);
    }
  }

  // An `if:` value: one template, plain expression text, or the ddeutil mixed form.
  void check_condition(const Text& t, const Scope& scope) {
    if (t.value.find("${{") == std::string::npos) {
      std::size_t off = 0;
      auto e = Expression::parse(t.value, true, &off);
      if (!e.ok()) {
        diags_.error(locate_in_source(t, off, src_), e.error().message);
        return;
      }
      check_references(e->references(), 0, t, scope);
      return;
    }
    check_text(t, scope);
  }

  void check_json(const Json& v, const SourcePos& pos, const Scope& scope) {
    if (v.is_string()) check_text(Text{v.get<std::string>(), pos}, scope);
    else if (v.is_structured())
      for (const auto& e : v) check_json(e, pos, scope);
  }

  // A number of seconds: a template is checked as one, a literal must be a number in range.
  void check_seconds(const Text& t, const Scope& scope, const std::string& what) {
    if (has_template(t.value)) return check_text(t, scope);
    if (auto secs = to_seconds(Json(t.value), what); !secs.ok()) diags_.error(t.pos, secs.error().message);
  }

  void check_text(const Text& t, const Scope& scope) {
    if (t.value.find("${{") == std::string::npos) return;
    std::size_t off = 0;
    auto tpl = Template::parse(t.value, &off);
    if (!tpl.ok()) {
      diags_.error(locate_in_source(t, off, src_), tpl.error().message);
      return;
    }
    if (scope.in_bash) {
      // References quoted with `| shell_quote` are safe in a script: no warning for them.
      Scope quoted = scope;
      quoted.in_bash = false;
      for (const auto& [expr, off] : tpl->expressions()) {
        bool safe = expr->text().find("shell_quote") != std::string::npos;
        std::vector<Reference> refs = expr->references();
        for (auto& r : refs) r.offset += off;
        check_references(refs, 0, t, safe ? quoted : scope);
      }
      return;
    }
    check_references(tpl->references(), 0, t, scope);
  }

  void check_references(const std::vector<Reference>& refs, std::size_t base, const Text& t, const Scope& scope) {
    for (const auto& r : refs) {
      if (r.path.empty()) continue;
      SourcePos where = locate_in_source(t, base + r.offset, src_);
      const std::string& root = r.path[0];
      if (std::find(kNamespaces.begin(), kNamespaces.end(), root) == kNamespaces.end()) {
        std::string msg = "unknown name '" + root + "' in expression";
        std::string hint = closest_match(root, kNamespaces);
        if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
        diags_.error(where, msg);
        continue;
      }
      if (scope.matrix_only && root != "matrix") {
        diags_.error(where, "a stage's name and id may only use matrix expressions, not '" + root + "'");
        continue;
      }
      if (root == "params" && r.path.size() > 1) {
        if (!w_.find_param(r.path[1])) {
          // A warning, not an error: the seed reference's own examples read undeclared
          // params, and such a file must still run (the reference fails when evaluated).
          std::string msg = "undeclared param '" + r.path[1] + "'";
          std::string hint = closest_match(r.path[1], param_names_);
          if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
          else msg += "; reading it fails the stage at run time";
          diags_.warning(where, msg);
        } else if (scope.in_bash) {
          diags_.warning(where, "'${{ params." + r.path[1] +
                                    " }}' is pasted into the script as text; pass it through env: and use \"$VAR\", or "
                                    "'| shell_quote'");
        }
      }
      if (root == "needs" && r.path.size() > 1) {
        if (!scope.job) {
          diags_.error(where, "'needs' can only be used inside a job");
        } else {
          bool listed = std::any_of(scope.job->needs.begin(), scope.job->needs.end(),
                                    [&](const Need& n) { return n.job == r.path[1]; });
          if (!listed)
            diags_.error(where, "job '" + scope.job->name + "' reads needs." + r.path[1] + " but '" + r.path[1] +
                                    "' is not in its 'needs'");
        }
        if (r.path.size() > 2) {
          static const std::vector<std::string> fields = {"result", "outputs", "legs"};
          if (std::find(fields.begin(), fields.end(), r.path[2]) == fields.end()) {
            std::string msg = "needs." + r.path[1] + " has no field '" + r.path[2] + "' (fields: result, outputs, legs)";
            std::string hint = closest_match(r.path[2], fields);
            if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
            diags_.error(where, msg);
          }
        }
      }
      if (root == "stages" && r.path.size() > 1 && scope.job) {
        if (!scope.earlier_stages.count(r.path[1])) {
          bool later = std::any_of(scope.job->stages.begin(), scope.job->stages.end(),
                                   [&](const Stage& s) { return s.key() == r.path[1]; });
          std::string msg = later ? "stages." + r.path[1] + " is read before stage '" + r.path[1] + "' runs"
                                  : "no stage '" + r.path[1] + "' earlier in job '" + scope.job->name + "'";
          if (!later) {
            std::vector<std::string> cand(scope.earlier_stages.begin(), scope.earlier_stages.end());
            std::string hint = closest_match(r.path[1], cand);
            if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
          }
          diags_.error(where, msg);
        }
      }
      if (root == "jobs" && r.path.size() > 1 && !w_.find_job(r.path[1]))
        diags_.error(where, "no job '" + r.path[1] + "' in workflow '" + w_.name + "'");
    }
  }

  const Workflow& w_;
  DiagnosticList& diags_;
  const std::string* src_;
  std::vector<std::string> param_names_;
  std::size_t max_legs_;
};

}  // namespace

void validate_workflow(const Workflow& w, DiagnosticList& diags, std::size_t max_legs) {
  Validator(w, diags, max_legs).run();
}

}  // namespace wf
