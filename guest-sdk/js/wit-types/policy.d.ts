/// <reference path="./interfaces/dunlin-policy-decider.d.ts" />
declare module 'dunlin:policy/policy@0.1.0' {
  export * as decider from 'dunlin:policy/decider@0.1.0'; // export dunlin:policy/decider@0.1.0
}
