#!/usr/bin/env node
// The `refunds-admin` command (package.json "bin"): loads tsx so the TypeScript CLI runs as it is,
// from any directory.
import { register } from 'tsx/esm/api';

register();
await import('./principals-cli.ts');
