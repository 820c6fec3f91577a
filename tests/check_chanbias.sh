#!/bin/sh
# The channel, select and timer suites once more with RINGO_DEBUG=chanbias=1:
# every channel is biased to a P after two operations in a row from it
# (lib/chanlock.c), so their traffic between Ps, from foreign threads and
# from timers that sysmon runs revokes biases all the time, in the middle
# of every kind of operation.
b="${top_builddir:-.}/tests"
RINGO_DEBUG=chanbias=1 "$b/check_chan" || exit 1
RINGO_DEBUG=chanbias=1 "$b/check_select" || exit 1
RINGO_DEBUG=chanbias=1 "$b/check_timer" || exit 1
