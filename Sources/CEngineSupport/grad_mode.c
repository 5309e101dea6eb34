// Autograd's on/off switch must be per thread (DataLoader workers run tensor code while the main
// thread trains) and cheap to read on every operation: a C thread-local is both.
#include "CEngineSupport.h"

static _Thread_local int grad_disabled_depth_flag = 0;

int engine_grad_enabled(void) { return grad_disabled_depth_flag == 0; }
void engine_set_grad_enabled(int enabled) { grad_disabled_depth_flag = enabled ? 0 : 1; }
