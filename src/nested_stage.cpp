// Nested stages (FORMAT §6): parallel, foreach, until and case run stage lists of their own
// as child frames of the stage list they stand in. Their processes go through the same
// ProcessSet and wait loop as every other stage.
#include <algorithm>
#include <set>

#include "run_state.hpp"
#include "wf/expr.hpp"

namespace wf {

namespace {

// The text of a value as `${{ }}` would print it (strings without quotes).
std::string value_text(const Json& v) { return v.is_string() ? v.get<std::string>() : json_text(v); }

// `case:` entries match when the values are equal, or their texts are (so 1 matches "1").
bool case_matches(const Json& entry, const Json& value) {
  return entry == value || value_text(entry) == value_text(value);
}

Result<int> positive_count(const Json& v, const std::string& what, bool zero_ok) {
  Json n = v;
  if (v.is_string()) {
    try {
      std::size_t used = 0;
      long long i = std::stoll(v.get<std::string>(), &used);
      if (used == v.get<std::string>().size()) n = i;
    } catch (...) {
    }
  }
  if (!n.is_number_integer() || n.get<long long>() < (zero_ok ? 0 : 1) || n.get<long long>() > 100000)
    return Error(what + " must be a whole number from " + (zero_ok ? "0" : "1") + " to 100000, got " + value_text(v),
                 "StageError");
  return static_cast<int>(n.get<long long>());
}

}  // namespace

// Sets up the child frames of a nested stage. Returns false when the stage ended at once
// (an error, an empty foreach, a case with no match).
bool Run::begin_nested(Frame& f, const Stage& s, const std::function<const Json&()>& vars) {
  auto fail = [&](const Error& e) {
    end_stage(f, Status::Failed, e, Json::object(), -1);
    return false;
  };
  auto nest = std::make_unique<Nest>();
  Nest& n = *nest;
  n.kind = s.kind;
  auto add = [&](std::string label, Json scope, const std::vector<Stage>* list, std::string key) {
    n.labels.push_back(std::move(label));
    n.scopes.push_back(std::move(scope));
    n.lists.push_back(list);
    n.keys.push_back(std::move(key));
  };
  switch (s.kind) {
    case StageKind::Parallel: {
      n.max_running = static_cast<int>(s.lists.size());
      if (s.max_workers) {
        auto r = render_lazy(*s.max_workers, vars);
        auto c = r.ok() ? positive_count(*r, "max-workers", false) : Result<int>(r.error());
        if (!c.ok()) return fail(c.error());
        n.max_running = *c;
      }
      for (const auto& l : s.lists) add("branch " + l.label, {{"branch", l.label}}, &l.stages, l.label);
      break;
    }
    case StageKind::Foreach: {
      Json items;
      if (s.foreach_items.is_string()) {
        auto r = render_lazy(Text{s.foreach_items.get<std::string>(), s.foreach_pos}, vars);
        if (!r.ok()) return fail(r.error());
        items = *r;
        if (items.is_string()) {
          Json parsed = Json::parse(items.get<std::string>(), nullptr, false);
          if (parsed.is_array()) items = parsed;
        }
      } else {
        auto r = render_json(s.foreach_items, json_text(s.foreach_items).find("${{") == std::string::npos ? Json::object() : vars());
        if (!r.ok()) return fail(r.error());
        items = *r;
      }
      if (!items.is_array())
        return fail(Error("foreach needs a list of items, got " + std::string(items.type_name()) + " " +
                              value_text(items).substr(0, 80),
                          "StageError"));
      std::map<std::string, std::size_t> seen;
      for (std::size_t i = 0; i < items.size(); ++i) {
        std::string key = s.use_index_as_key ? std::to_string(i) : value_text(items[i]);
        if (!s.use_index_as_key) {
          auto [it, fresh] = seen.emplace(key, i);
          if (!fresh)
            return fail(Error("foreach items must be unique: '" + key + "' is item " + std::to_string(it->second) +
                                  " and item " + std::to_string(i) + " (set use-index-as-key: true to allow repeats)",
                              "StageError"));
        }
        add("item " + key, {{"item", items[i]}, {"loop", i}}, &s.lists[0].stages, key);
      }
      n.item = items;
      n.max_running = 1;
      if (s.concurrent) {
        auto r = render_lazy(*s.concurrent, vars);
        auto c = r.ok() ? positive_count(*r, "concurrent", false) : Result<int>(r.error());
        if (!c.ok()) return fail(c.error());
        n.max_running = *c;
      }
      n.outputs = {{"items", items}, {"foreach", Json::object()}};
      break;
    }
    case StageKind::Until: {
      auto item = render_json(s.until_item, json_text(s.until_item).find("${{") == std::string::npos ? Json::object() : vars());
      if (!item.ok()) return fail(item.error());
      n.item = *item;
      if (s.max_loop) {
        auto r = render_lazy(*s.max_loop, vars);
        auto c = r.ok() ? positive_count(*r, "max-loop", false) : Result<int>(r.error());
        if (!c.ok()) return fail(c.error());
        n.max_loop = *c;
      }
      n.loop = 1;
      add("loop 1", {{"item", n.item}, {"loop", 1}}, &s.lists[0].stages, "1");
      break;
    }
    case StageKind::Case: {
      auto value = render_lazy(s.case_value, vars);
      if (!value.ok()) return fail(value.error());
      const StageList* chosen = nullptr;
      for (const auto& l : s.lists) {
        if (l.catch_all) continue;
        Json entry = l.value;
        if (l.value_text) {
          auto r = render(*l.value_text, vars());
          if (!r.ok()) return fail(r.error());
          entry = *r;
        }
        if (case_matches(entry, *value)) {
          chosen = &l;
          break;
        }
      }
      if (!chosen)
        for (const auto& l : s.lists)
          if (l.catch_all) {
            chosen = &l;
            break;
          }
      n.outputs = {{"case", *value}};
      if (!chosen) {
        if (s.skip_not_match) {
          end_stage(f, Status::Skip, Error(), n.outputs, -1);
          return false;
        }
        std::string entries;
        for (const auto& l : s.lists) entries += (entries.empty() ? "" : ", ") + l.label;
        return fail(Error("case '" + value_text(*value) + "' matched no entry (entries: " + entries +
                              "); add `case: _` or `skip-not-match: true`",
                          "StageError"));
      }
      add("case " + chosen->label, {{"case", *value}}, &chosen->stages, chosen->label);
      break;
    }
    default:
      return fail(Error(to_string(s.kind) + " is not a nested stage", "StageError"));
  }
  f.nest = std::move(nest);
  return true;
}

// Starts the next child frame of the nested stage in flight.
void Run::start_child(Frame& f) {
  Nest& n = *f.nest;
  auto c = std::make_unique<Frame>();
  c->in = f.in;
  c->parent = &f;
  c->list = n.lists[n.next];
  c->label = n.labels[n.next];
  c->scope = n.scopes[n.next];
  c->parent_stage_id = f.stage.id;
  ++n.next;
  ++n.running;
  n.children.push_back(std::move(c));
  advance_frame(*n.children.back());
}

// Takes the result of a child frame that ran all its stages (or stopped).
void Run::child_done(Frame& f, Frame& child) {
  Nest& n = *f.nest;
  --n.running;
  child.collected = true;
  std::size_t index = 0;
  while (n.children[index].get() != &child) ++index;
  const std::string& key = n.keys[index];
  Json r = child.scope;
  r["stages"] = child.stages;
  if (child.failed) r["errors"] = {{"name", child.error.name}, {"message", child.error.message}};
  if (n.kind == StageKind::Case) n.results = child.stages;  // one entry ran: its stages
  else n.results[key] = r;
  if (child.failed) {
    if (!n.stop) {
      n.stop = true;
      n.error = child.error;
      n.error.message = child.label + ": " + child.error.message;
      // The first failure stops the rest: running children are cancelled.
      for (auto& other : n.children)
        if (!other->done) cancel_frame(*other, "cancelled: " + child.label + " failed", false);
    }
    return;
  }
  if (n.kind != StageKind::Until || child.cancelled || n.stop) return;
  // until: a nested stage's `item` output is the next item; then check the condition.
  for (auto it = child.stages.begin(); it != child.stages.end(); ++it) {
    const Json& out = it.value()["outputs"];
    if (it.value()["status"] == "SUCCESS" && out.is_object() && out.contains("item")) n.item = out["item"];
  }
  const Stage& s = f.current();
  Json vars = stage_vars(f);
  vars["item"] = n.item;
  vars["loop"] = n.loop;
  vars["stages"] = child.stages;
  EvalContext ctx{&vars, false, cancelling_};
  auto done = evaluate_condition(s.until.value, ctx);
  if (!done.ok()) {
    n.stop = true;
    n.error = Error(mask(done.error().message), "TemplateError");
    return;
  }
  if (*done) return;
  if (n.loop >= n.max_loop) {
    n.stop = true;
    n.error = Error("until: max-loop " + std::to_string(n.max_loop) + " reached and '" + s.until.value +
                        "' is still false (item: " + value_text(n.item) + ")",
                    "StageError");
    return;
  }
  ++n.loop;
  std::string l = std::to_string(n.loop);
  n.labels.push_back("loop " + l);
  n.scopes.push_back({{"item", n.item}, {"loop", n.loop}});
  n.lists.push_back(&s.lists[0].stages);
  n.keys.push_back(l);
}

// Runs the children of the nested stage in flight as far as they go; true when it ended.
bool Run::progress_nest(Frame& f) {
  Nest& n = *f.nest;
  for (bool changed = true; changed;) {
    changed = false;
    // From the first child not collected: a foreach over many items stays linear.
    while (n.first_live < n.children.size() && n.children[n.first_live]->collected) ++n.first_live;
    for (std::size_t i = n.first_live; i < n.children.size(); ++i) {
      Frame& c = *n.children[i];
      if (c.collected) continue;
      if (!c.done) advance_frame(c);
      if (c.done) {
        child_done(f, c);
        changed = true;
      }
    }
    // Start more children: up to the stage's own bound, and while fewer processes than -j
    // run (one child may always start, so a nested stage never waits on itself).
    while (!n.stop && !f.cancelled && !cancelling_ && n.next < n.labels.size() && n.running < n.max_running &&
           (n.running == 0 || static_cast<int>(procs_.running()) < max_parallel_)) {
      start_child(f);
      changed = true;
    }
  }
  if (n.running > 0) return false;
  if (n.next < n.labels.size() && !n.stop && !f.cancelled && !cancelling_) return false;

  // Ended: the status is the children's aggregate.
  bool failed = false, cancelled = f.cancelled || (cancelling_ && n.next < n.labels.size());
  for (const auto& c : n.children) {
    failed = failed || c->failed;
    cancelled = cancelled || c->cancelled;
  }
  Json outputs = n.outputs;
  switch (n.kind) {
    case StageKind::Parallel: outputs["parallel"] = n.results; break;
    case StageKind::Foreach: outputs["foreach"] = n.results; break;
    case StageKind::Until:
      outputs["until"] = n.results;
      outputs["item"] = n.item;
      outputs["loop"] = n.loop;
      break;
    default: outputs["stages"] = n.results; break;
  }
  Error err = n.error;
  if (failed) {
    f.failed_inside = true;
    end_stage(f, Status::Failed, err, outputs, -1);
    return true;
  }
  if (n.stop && !err.message.empty()) {  // until: max-loop or a bad condition
    end_stage(f, Status::Failed, err, outputs, -1);
    return true;
  }
  if (cancelled) {
    end_stage(f, Status::Cancel, cancel_error(f), outputs, -1);
    return true;
  }
  end_stage(f, Status::Success, Error(), outputs, -1);
  return true;
}

}  // namespace wf
