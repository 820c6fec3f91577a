/* SPDX-License-Identifier: MIT */
/* sysmon.c - placeholder until the timers/sysmon issue lands. */
#include "runtime.h"

void ringo__sysmon_start(void)
{
}

void ringo__sysmon_stop(void)
{
}
