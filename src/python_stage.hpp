// Private: how a `run:` (Python) stage is executed. wf never embeds an interpreter: it runs
// `python3 -c WRAPPER` (WF_PYTHON overrides python3) with the stage's code, vars and
// context in a JSON file, and reads back outputs or the raised exception from another.
#pragma once

#include <string>

namespace wf {

// The wrapper program given to `python3 -c`. It reads $WF_PY_INPUT ({code, name, vars,
// params, matrix, context}), runs the code with those names predefined, and writes
// {"outputs": {...}} or {"error": {"name", "message"}} to $WF_PY_RESULT.
const std::string& python_wrapper();

}  // namespace wf
