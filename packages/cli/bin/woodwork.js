#!/usr/bin/env node
// A committed launcher so npm links the `woodwork` command at install time, before dist/ is built.
import "../dist/bin.js";
