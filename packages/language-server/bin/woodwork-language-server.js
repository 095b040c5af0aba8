#!/usr/bin/env node
// A committed launcher so npm links the command at install time, before dist/ is built.
import "../dist/bin.js";
