#!/usr/bin/env node
/**
 * CDK entry point: `npx cdk synth -c stage=<stage>` (see infra/README.md for the flags).
 */
import { App } from 'aws-cdk-lib';
import { addAlchemiserStack, addNagChecks } from '../lib/alchemiser-app';

const app = new App();
addAlchemiserStack(app);
addNagChecks(app);
