// Static checks of a loaded workflow that need more than one object at a time: needs
// (unknown jobs, cycles), stage ids, and every expression (syntax, namespaces, needs.x,
// stages.x, params.x) with positions inside the file. Runs without running anything; the
// same checks guard `wf run` before a run is recorded.
#pragma once

#include <string>

#include "wf/diagnostic.hpp"
#include "wf/workflow.hpp"

namespace wf {

// `max_legs` is the cap on matrix legs (`--max-legs`).
void validate_workflow(const Workflow& w, DiagnosticList& diags, std::size_t max_legs = 256);

// The file position of byte `offset` of a Text's value, found by looking for the value's
// text in the file source near the scalar's start (quoted and block scalars included).
SourcePos locate_in_source(const Text& t, std::size_t offset, const std::string* source);

}  // namespace wf
