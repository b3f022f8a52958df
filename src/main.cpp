#include "wf/cli.hpp"

int main(int argc, char** argv) { return wf::run_cli(argc, argv); }
