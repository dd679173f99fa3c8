// Runs the published TypeScript client (@cdot65/prisma-airs-sdk) against a running emulator.
// Every SDK call validates the response with the SDK's own zod schemas.
//
//   mkdir -p /tmp/tspeer && (cd /tmp/tspeer && npm init -y && npm install @cdot65/prisma-airs-sdk)
//   modelsec-emulator --port 0 --settle-delay 0.1 --activation-delay 0.1 &   # prints its URL
//   TSPEER_DIR=/tmp/tspeer EMULATOR_URL=http://127.0.0.1:PORT node scripts/ts_peer/peer.cjs
const path = require("path");
const dir = process.env.TSPEER_DIR || "/tmp/tspeer";
const sdk = require(path.join(dir, "node_modules/@cdot65/prisma-airs-sdk/dist/index.cjs"));
const base = process.env.EMULATOR_URL || "http://127.0.0.1:8765";

const client = new sdk.ModelSecurityClient({
  clientId: process.env.CLIENT_ID || "modelsec-demo",
  clientSecret: process.env.CLIENT_SECRET || "modelsec-demo-secret",
  tsgId: process.env.TSG_ID || "1234567890",
  dataEndpoint: `${base}/aims/data`,
  mgmtEndpoint: `${base}/aims/mgmt`,
  tokenEndpoint: `${base}/oauth2/access_token`,
});

const results = [];
async function step(name, fn) {
  try {
    const value = await fn();
    results.push({ name, ok: true });
    return value;
  } catch (err) {
    results.push({ name, ok: false, error: String(err && err.message ? err.message : err).slice(0, 600) });
    return undefined;
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  const rules = await step("securityRules.list", () => client.securityRules.list({ limit: 50 }));
  const rule = rules && rules.rules[0];
  if (rule) await step("securityRules.get", () => client.securityRules.get(rule.uuid));
  await step("securityRules.listVersions", () => client.securityRules.listVersions({ limit: 5 }));
  const groups = await step("securityGroups.list", () => client.securityGroups.list({ limit: 50 }));
  const local = groups && groups.security_groups.find((g) => g.name === "Default LOCAL");
  const group = await step("securityGroups.create", () =>
    client.securityGroups.create({ name: "ts-peer", source_type: "HUGGING_FACE", description: "peer" }));
  if (group) {
    await step("securityGroups.get", () => client.securityGroups.get(group.uuid));
    await step("securityGroups.update", () => client.securityGroups.update(group.uuid, { description: "x" }));
    const ris = await step("securityGroups.listRuleInstances", () => client.securityGroups.listRuleInstances(group.uuid, { limit: 20 }));
    const ri = ris && ris.rule_instances[0];
    if (ri) {
      await step("securityGroups.getRuleInstance", () => client.securityGroups.getRuleInstance(group.uuid, ri.uuid));
      await step("securityGroups.updateRuleInstance", () =>
        client.securityGroups.updateRuleInstance(group.uuid, ri.uuid, { security_group_uuid: group.uuid, state: "ALLOWING" }));
    }
    await step("securityGroups.listRuleInstanceVersions", () => client.securityGroups.listRuleInstanceVersions(group.uuid));
  }
  await step("getPyPIAuth", () => client.getPyPIAuth());
  const details = {
    scanner_version: "peer/1", time_started: "2026-05-04T10:00:00Z", total_files_scanned: 1,
    total_files_skipped: 0, model_formats: ["pickle"], model_size_bytes: 10, scan_duration_ms: 1,
    files: [{ file_path: "pytorch_model.bin", modelscan_status: "SCANNED", blob_id: "b1", formats: ["pickle"],
      sha256: "ab", size_bytes: 10, issues_detected: [{ description: "os.system", source: "pytorch_model.bin",
      threat: "PAIT-PKL-100", module: "os", operator: "system" }] }],
  };
  const scan = local && await step("scans.create", () => client.scans.create({
    model_uri: "/models/peer", security_group_uuid: local.uuid, scan_origin: "MODEL_SECURITY_SDK",
    scan_details: details, labels: [{ key: "team", value: "ml" }] }));
  if (scan) {
    let result = await step("scans.get", () => client.scans.get(scan.uuid));
    for (let i = 0; i < 50 && result && result.eval_outcome === "PENDING"; i++) {
      await sleep(100);
      result = await client.scans.get(scan.uuid).catch(() => result);
    }
    await step("scans.list", () => client.scans.list({ limit: 10, sort_order: "desc", eval_outcomes: ["BLOCKED"] }));
    const evs = await step("scans.getEvaluations", () => client.scans.getEvaluations(scan.uuid, { limit: 20 }));
    if (evs && evs.evaluations[0]) await step("scans.getEvaluation", () => client.scans.getEvaluation(evs.evaluations[0].uuid));
    const vs = await step("scans.getViolations", () => client.scans.getViolations(scan.uuid, { limit: 20 }));
    if (vs && vs.violations[0]) await step("scans.getViolation", () => client.scans.getViolation(vs.violations[0].uuid));
    await step("scans.getFiles", () => client.scans.getFiles(scan.uuid, { limit: 50 }));
    await step("scans.addLabels", () => client.scans.addLabels(scan.uuid, { labels: [{ key: "env", value: "prod" }] }));
    await step("scans.setLabels", () => client.scans.setLabels(scan.uuid, { labels: [{ key: "team", value: "ml" }] }));
    await step("scans.deleteLabels", () => client.scans.deleteLabels(scan.uuid, ["team"]));
    await step("scans.getLabelKeys", () => client.scans.getLabelKeys());
    await step("scans.getLabelValues", () => client.scans.getLabelValues("env"));
    const models = await step("models.listModels", () => client.models.listModels({ limit: 10 }));
    const m = models && models.models[0];
    if (m) {
      await step("models.getModel", () => client.models.getModel(m.uuid));
      const mvs = await step("models.listModelVersions", () => client.models.listModelVersions(m.uuid));
      const mv = mvs && mvs.model_versions[0];
      if (mv) {
        await step("models.getModelVersion", () => client.models.getModelVersion(mv.uuid));
        await step("models.listModelVersionFiles", () => client.models.listModelVersionFiles(mv.uuid));
      }
    }
  }
  const cr = await step("customRules.create", () => client.customRules.create({
    name: "Review", compatible_sources: ["LOCAL"],
    condition: { type: "label", key: "reviewed", operator: "not_exists" }, violation_message: "Review required" }));
  if (cr) {
    await step("customRules.list", () => client.customRules.list({ limit: 20 }));
    await step("customRules.get", () => client.customRules.get(cr.uuid));
    await step("customRules.update", () => client.customRules.update(cr.uuid, { description: "Reviewed" }));
    await step("customRules.archive", () => client.customRules.archive(cr.uuid));
    await step("customRules.unarchive", () => client.customRules.unarchive(cr.uuid));
    if (local) {
      await step("customRules.assignSecurityGroups", () => client.customRules.assignSecurityGroups(cr.uuid,
        { assignments: [{ security_group_uuid: local.uuid, state: "ALLOWING" }] }));
      await step("customRules.listSecurityGroups", () => client.customRules.listSecurityGroups(cr.uuid));
      await step("customRules.removeAssignment", () => client.customRules.removeAssignment(cr.uuid, local.uuid));
    }
    await step("customRules.listVersions", () => client.customRules.listVersions({ limit: 10 }));
  }
  if (group) await step("securityGroups.delete", () => client.securityGroups.delete(group.uuid));
  for (const r of results) console.log(`${r.ok ? "PASS" : "FAIL"} ${r.name}${r.ok ? "" : "  -- " + r.error}`);
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed}/${results.length} passed`);
  process.exit(failed ? 1 : 0);
})();
