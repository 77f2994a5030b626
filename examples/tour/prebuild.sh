#!/usr/bin/env bash
# The tour runs the `user` example's program too: build it the same way.
exec "$(dirname "$0")/../user/prebuild.sh" "$@"
