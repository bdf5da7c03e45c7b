"""convert.load: YAML files and folders, Helm charts (helm-python-sdk), kustomize folders."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moorage.convert.load import load
from moorage.convert.model import Finding, K8sObject
from moorage.errors import InvalidParams

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "k8s"  # copy of the shared corpus
ACTORS = REPO / "examples" / "actors"
CORPUS_APPS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) if CORPUS.is_dir() else []

try:
    import helm_python

    helm_python.helm_sdk_version()
    HELM_WHY = ""
except Exception as exc:  # the native library may be missing on exotic platforms
    HELM_WHY = f"helm-python-sdk cannot run here: {exc}"
needs_helm = pytest.mark.skipif(bool(HELM_WHY), reason=HELM_WHY or "helm works")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def document_starts(text: str) -> list[int]:
    """1-based line of the first content line of every non-empty document of ``text``."""
    starts, in_doc = [], False
    for n, line in enumerate(text.splitlines(), start=1):
        if line.startswith("---"):
            in_doc = False
        elif line.strip() and not line.lstrip().startswith("#") and not in_doc:
            starts.append(n)
            in_doc = True
    return starts


# --- the corpus and the actors example ----------------------------------------------------


@pytest.mark.parametrize("app", CORPUS_APPS)
def test_every_corpus_folder_loads_with_exact_document_lines(app: str) -> None:
    if app == "microservices-demo" and HELM_WHY:
        pytest.skip(HELM_WHY)
    objects, findings = load([CORPUS / app])
    assert objects
    assert [f for f in findings if f.severity == "error"] == []
    for obj in objects:
        assert obj.source.file.startswith(f"{app}/")
        assert (CORPUS / obj.source.file).is_file(), obj.source
        assert obj.body["kind"] == obj.kind == obj.source.kind
        assert obj.body["metadata"]["name"] == obj.name == obj.source.name
    by_file: dict[str, list[int]] = {}
    for obj in objects:
        if "/templates/" not in obj.source.file:  # rendered templates: lines of the output
            by_file.setdefault(obj.source.file, []).append(obj.source.line)
    for file, lines in by_file.items():
        assert lines == document_starts((CORPUS / file).read_text()), file


def test_corpus_object_counts() -> None:
    counts = {
        app: len(load([CORPUS / app])[0]) for app in CORPUS_APPS if app != "microservices-demo"
    }
    assert counts == {
        "azure-voting-app-redis": 4,
        "example-voting-app": 9,
        "kubernetes-examples-guestbook": 12,
    }


@needs_helm
def test_microservices_demo_manifests_and_chart_load() -> None:
    objects, findings = load([CORPUS / "microservices-demo"])
    files = {o.source.file.split("/")[1] for o in objects}
    assert files == {"helm-chart", "kubernetes-manifests.yaml"}
    plain = [o for o in objects if o.source.file.endswith("kubernetes-manifests.yaml")]
    assert Counter(o.kind for o in plain)["Deployment"] == 12
    chart = [o for o in objects if "/helm-chart/templates/" in o.source.file]
    assert {"Deployment", "Service", "ServiceAccount"} <= {o.kind for o in chart}
    assert findings == []


def test_actors_spec() -> None:
    objects, findings = load([ACTORS / "spec"])
    assert findings == []
    got = {(o.kind, o.name, o.namespace, o.source.file, o.source.line) for o in objects}
    assert ("ConfigMap", "myapp-config", "myapp", "spec/configmap.yaml", 5) in got
    assert ("Secret", "myapp-db", "myapp", "spec/secret.yaml", 4) in got
    assert ("Namespace", "myapp", None, "spec/namespace.yaml", 1) in got
    assert {o.kind for o in objects} == {
        "ConfigMap", "Deployment", "Ingress", "Namespace", "Secret", "Service"
    }  # fmt: skip
    assert [o.source.file for o in objects] == sorted(o.source.file for o in objects)


def repaired_actors_chart(tmp_path: Path) -> Path:
    """The actors chart, with the `{{- end }}` its ingress template lacks (see the report)."""
    chart = tmp_path / "chart"
    shutil.copytree(ACTORS / "chart", chart)
    ingress = chart / "templates" / "ingress.yaml"
    text = ingress.read_text()
    if not text.rstrip().endswith("{{- end }}"):
        ingress.write_text(text + "{{- end }}\n")
    return chart


@needs_helm
def test_actors_chart_as_shipped_renders_or_names_the_broken_template() -> None:
    try:
        objects, _ = load([ACTORS / "chart"], release="myapp")
    except InvalidParams as exc:  # the shipped ingress.yaml lacks its closing {{- end }}
        assert str(exc).startswith("chart/templates/ingress.yaml:31: Helm template error")
    else:
        assert {o.kind for o in objects} >= {"Deployment", "Service"}


@needs_helm
def test_actors_chart_renders_with_dependency_noted(tmp_path: Path) -> None:
    chart = repaired_actors_chart(tmp_path)
    objects, findings = load([chart], release="myapp", set_values=["ingress.enabled=true"])
    assert sorted((o.kind, o.name) for o in objects) == [
        ("Deployment", "myapp"), ("Ingress", "myapp"), ("Service", "myapp")
    ]  # fmt: skip
    deployment = next(o for o in objects if o.kind == "Deployment")
    assert deployment.source.file == "chart/templates/deployment.yaml"
    assert deployment.source.line == 1
    assert deployment.body["spec"]["replicas"] == 2
    env = {
        e["name"]: e for e in deployment.body["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "myapp-postgresql"
    assert env["GREETING"]["value"] == "Hello from Helm"
    [dep] = findings
    assert dep.severity == "info"
    assert (dep.source.kind, dep.source.name) == ("ChartDependency", "postgresql")
    assert (dep.source.file, dep.source.line) == ("chart/Chart.yaml", 8)
    assert "named myapp-postgresql" in dep.why  # the Service the templates point at


@needs_helm
def test_chart_values_files_then_set_then_release(tmp_path: Path) -> None:
    chart = repaired_actors_chart(tmp_path)
    first = write(tmp_path / "a.yaml", "replicaCount: 5\nenv: {EXTRA: one}\n")
    second = write(tmp_path / "b.yaml", "env: {GREETING: hi}\n")
    objects, findings = load(
        [chart / "Chart.yaml"],
        values=[first, second],
        set_values=["replicaCount=3", "postgresql.enabled=false"],
        release="prod",
    )
    deployment = next(o for o in objects if o.kind == "Deployment")
    assert deployment.name == "prod-myapp"
    assert deployment.body["spec"]["replicas"] == 3
    env = {
        e["name"]: e.get("value")
        for e in deployment.body["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env == {"EXTRA": "one", "FLASK_ENV": "production", "GREETING": "hi"}
    assert findings == []  # postgresql disabled: no dependency to replace


@needs_helm
@pytest.mark.parametrize(
    ("template", "line"),
    [
        ("kind: ConfigMap\nmetadata:\n  name: {{ .Values.a.b.c }}\n", 3),
        ("{{- if .Values.x }}\nkind: ConfigMap\n", 3),  # Go reports the EOF line
        ('kind: ConfigMap\n\n\n{{ fail "no way" }}\n', 4),
        ('kind: ConfigMap\nmetadata:\n  name: {{ required "name is required" .Values.n }}\n', 3),
    ],
)
def test_helm_template_error_names_chart_file_and_line(
    tmp_path: Path, template: str, line: int
) -> None:
    chart = tmp_path / "mychart"
    write(chart / "Chart.yaml", "apiVersion: v2\nname: other-name\nversion: 0.1.0\n")
    write(chart / "templates" / "bad.yaml", template)
    with pytest.raises(InvalidParams) as err:
        load([chart])
    assert str(err.value).startswith(f"mychart/templates/bad.yaml:{line}: Helm template error")


@needs_helm
def test_chart_rendering_invalid_yaml_names_the_template(tmp_path: Path) -> None:
    chart = tmp_path / "c"
    write(chart / "Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n")
    write(chart / "templates" / "x.yaml", "a: [1\nb: 2\n")
    with pytest.raises(InvalidParams, match=r"^c/templates/x.yaml:\d+: invalid YAML"):
        load([chart])


@needs_helm
def test_chart_crds_and_disabled_or_vendored_dependencies(tmp_path: Path) -> None:
    chart = tmp_path / "c"
    write(chart / "Chart.yaml", (
        "apiVersion: v2\nname: c\nversion: 0.1.0\ndependencies:\n"
        "  - name: redis\n    version: 17.x\n    repository: https://charts.bitnami.com/bitnami\n"
        "    condition: cache.enabled\n"
        "  - name: common\n    version: 1.x\n    repository: file://../common\n"
        "  - name: postgresql\n    version: 12.x\n    repository: oci://r/b\n    alias: db\n"
    ))  # fmt: skip
    write(chart / "values.yaml", "cache: {enabled: false}\n")
    write(
        chart / "charts" / "common" / "Chart.yaml", "apiVersion: v2\nname: common\nversion: 1.0.0\n"
    )
    write(
        chart / "crds" / "foo.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata:\n  name: foos.x.io\n",
    )
    objects, findings = load([chart])
    assert [(o.kind, o.source.file) for o in objects] == [
        ("CustomResourceDefinition", "c/crds/foo.yaml")
    ]
    assert [(f.source.name, f.source.line) for f in findings] == [("postgresql", 12)]
    assert "(as db)" in findings[0].why


@needs_helm
def test_bad_set_values_and_release_names() -> None:
    chart = CORPUS / "microservices-demo" / "helm-chart"
    for bad in ["novalue", "=x", "a"]:
        with pytest.raises(InvalidParams, match="--set"):
            load([chart], set_values=[bad])
    with pytest.raises(InvalidParams, match="Release name"):
        load([chart], release="Not_Valid")


def test_values_without_a_chart_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParams, match="apply to Helm charts"):
        load([CORPUS / "example-voting-app"], set_values=["a=b"])


# --- documents ---------------------------------------------------------------------------


def cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def test_multi_document_lines_comments_and_empty_documents(tmp_path: Path) -> None:
    text = (
        "# leading comment\n---\n" + cm("a")            # a: line 3
        + "---\n---\n# only a comment\n---\n"            # two empty documents
        + "\n" + cm("b")                                 # b: line 12
        + "--- # trailing\n" + cm("c")                   # c: line 17
        + "...\n---\n" + cm("d")                         # d: line 23
    )  # fmt: skip
    f = write(tmp_path / "all.yaml", text)
    objects, findings = load([f])
    assert findings == []
    assert [(o.name, o.source.line) for o in objects] == [("a", 3), ("b", 12), ("c", 17), ("d", 23)]
    assert {o.source.file for o in objects} == {"all.yaml"}
    assert objects[0].body == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}


def test_empty_files_and_empty_documents_give_nothing(tmp_path: Path) -> None:
    write(tmp_path / "d" / "empty.yaml", "")
    write(tmp_path / "d" / "seps.yml", "---\n---\n...\n")
    write(tmp_path / "d" / "comments.yaml", "# nothing\n")
    assert load([tmp_path / "d"]) == ([], [])


def test_list_kinds_become_their_items(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s\n"  # line 4
        "- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d, namespace: ns}\n"  # 8
        "- just a string\n"  # 11
        "---\napiVersion: v1\nkind: ConfigMapList\nitems:\n"
        "  - {kind: ConfigMap, metadata: {name: c}}\n"  # 16
        "---\nkind: List\nitems: []\n"
    )
    objects, findings = load([write(tmp_path / "list.yaml", text)])
    assert [(o.kind, o.name, o.namespace, o.source.line) for o in objects] == [
        ("Service", "s", None, 4), ("Deployment", "d", "ns", 8), ("ConfigMap", "c", None, 16)
    ]  # fmt: skip
    assert objects[2].api_version == ""
    [bad] = findings
    assert (bad.severity, bad.source.line) == ("error", 11)


def test_garbage_documents_are_error_findings_not_crashes(tmp_path: Path) -> None:
    text = (
        "just a scalar\n"                                   # 1
        "---\n- a\n- list\n"                                # 3
        "---\nmetadata: {name: nokind}\n"                   # 6
        "---\nkind: Service\n"                              # 8
        "---\nkind: Service\nmetadata: {labels: {}}\n"      # 10
        "---\nkind: Job\nmetadata: {generateName: job-}\n"  # 13
        "---\nkind: Service\nmetadata: {name: 1234}\n"      # 16
        "---\nkind: Service\nmetadata: [x]\n"               # 19
        "---\n" + cm("fine")                                # 22
        + "---\nkind: SomethingUnknown\napiVersion: x.io/v9\nmetadata: {name: u}\n"  # 27
    )  # fmt: skip
    objects, findings = load([write(tmp_path / "junk.yaml", text)])
    assert [(o.kind, o.name) for o in objects] == [("ConfigMap", "fine"), ("SomethingUnknown", "u")]
    assert [(f.severity, f.source.file, f.source.line) for f in findings] == [
        ("error", "junk.yaml", n) for n in (1, 3, 6, 8, 10, 13, 16, 19)
    ]
    assert "generateName" in findings[5].why and "Quote" in findings[6].todo
    assert all(f.why and f.todo for f in findings)


def test_63_character_names_are_kept_whole(tmp_path: Path) -> None:
    name63, long = "a" * 62 + "z", "b" * 253
    objects, _ = load([write(tmp_path / "n.yaml", cm(name63) + "---\n" + cm(long))])
    assert [o.name for o in objects] == [name63, long]
    assert objects[0].source.name == name63


def test_folders_are_read_recursively_sorted_and_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "k8s"
    write(root / "b.yaml", cm("b"))
    write(root / "a" / "z.yml", cm("az"))
    write(root / "c.json", "{}")
    write(root / ".hidden" / "x.yaml", cm("hidden"))
    write(root / "notes.txt", "not yaml")
    objects, _ = load([root])
    assert [(o.name, o.source.file) for o in objects] == [
        ("az", "k8s/a/z.yml"),
        ("b", "k8s/b.yaml"),
    ]
    monkeypatch.chdir(root / "a")
    objects, _ = load([Path("."), Path("../b.yaml")])
    assert [o.source.file for o in objects] == ["a/z.yml", "b.yaml"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("kind: A\nmetadata:\n  name: x\n  bad: [1, 2\n", 5),
        ("a: b\n\tc: d\n", 2),
        ("kind: A\nx: !!python/object:os.system ls\n", 2),
        ("kind: A\nwhen: 2001-13-45\n", 1),
        ("---\n" + cm("ok") + "---\nkey: 'unterminated\n", 8),  # the end; start on line 7
        ("x: \x00\n", 1),
    ],
)
def test_invalid_yaml_is_invalid_params_with_file_and_line(
    tmp_path: Path, text: str, line: int
) -> None:
    f = write(tmp_path / "bad.yaml", text)
    with pytest.raises(InvalidParams) as err:
        load([f])
    assert str(err.value).startswith(f"bad.yaml:{line}:")


def test_self_referencing_or_ballooning_aliases_are_refused(tmp_path: Path) -> None:
    cyclic = write(tmp_path / "cyclic.yaml", cm("x") + "---\n" + cm("y") + "data: &a {self: *a}\n")
    with pytest.raises(InvalidParams, match=r"^cyclic.yaml:6: this document contains itself"):
        load([cyclic])
    laughs = "a: &a [" + ", ".join(["x"] * 10) + "]\n"
    for n in "bcdefg":
        laughs += f"{n}: &{n} [" + ", ".join([f"*{chr(ord(n) - 1)}"] * 10) + "]\n"
    with pytest.raises(InvalidParams, match="expands to"):
        load([write(tmp_path / "laughs.yaml", cm("x") + laughs)])
    shared = cm("z") + "x: &s [1, 2]\ny: *s\n"
    assert [o.name for o in load([write(tmp_path / "ok.yaml", shared)])[0]] == ["z"]


def test_unreadable_input_is_invalid_params(tmp_path: Path) -> None:
    with pytest.raises(InvalidParams, match="no such file"):
        load([tmp_path / "missing.yaml"])
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(InvalidParams, match="not UTF-8"):
        load([tmp_path / "latin1.yaml"])
    write(tmp_path / "empty" / "README.md", "hi")
    with pytest.raises(InvalidParams, match=r"no \.yaml/\.yml files"):
        load([tmp_path / "empty"])
    with pytest.raises(InvalidParams, match="No path"):
        load([])
    with pytest.raises(InvalidParams, match="values file"):
        load([ACTORS / "chart"], values=[write(tmp_path / "v.yaml", "- a list\n")])


# --- kustomize ---------------------------------------------------------------------------


def kustomization(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write(root / "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\n")
    write(root / "kustomization.yaml", "resources:\n- svc.yaml\nnamePrefix: dev-\n")
    return root


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kustomize_folder_goes_through_kubectl(tmp_path: Path) -> None:
    root = kustomization(tmp_path / "overlay")
    objects, findings = load([root])
    assert [(o.kind, o.name, o.source.file, o.source.line) for o in objects] == [
        ("Service", "dev-db", "overlay/svc.yaml", 1)  # the resource file, not the kustomization
    ]
    assert findings == []
    assert "annotations" not in objects[0].body["metadata"]  # the origin is taken off again
    write(root / "kustomization.yaml", "resources:\n- missing.yaml\n")
    with pytest.raises(InvalidParams, match="kubectl kustomize failed"):
        load([root])


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_an_overlay_s_objects_point_at_the_base_file_and_line(tmp_path: Path) -> None:
    base = tmp_path / "app" / "base"
    write(
        base / "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations: {a: b}\n",
    )
    write(base / "kustomization.yaml", "resources:\n- svc.yaml\n")
    overlay = tmp_path / "app" / "prod"
    write(overlay / "kustomization.yaml", "resources:\n- ../base\nnameSuffix: -prod\n")
    objects, _ = load([overlay])
    assert [(o.name, o.source.file, o.source.line) for o in objects] == [
        ("db-prod", "base/svc.yaml", 1),
        ("web-prod", "base/svc.yaml", 6),
    ]
    assert objects[1].body["metadata"]["annotations"] == {"a": "b"}


def test_kustomize_without_kubectl_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = kustomization(tmp_path / "overlay")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with pytest.raises(InvalidParams) as err:
        load([root / "kustomization.yaml"])
    message = str(err.value)
    assert message.startswith("overlay is a kustomize folder")
    assert "install kubectl" in message.lower() and "rendered YAML" in message


def test_several_kustomizations_in_one_folder_are_refused(tmp_path: Path) -> None:
    kustomization(write(tmp_path / "k" / "base" / "x", "").parent)
    kustomization(write(tmp_path / "k" / "overlays" / "prod" / "x", "").parent)
    with pytest.raises(InvalidParams, match="several kustomizations"):
        load([tmp_path / "k"])


# --- fuzz --------------------------------------------------------------------------------

TOKENS = [*"ab:-[]{}#&*!|>'\"%@`,? \n\t.019", "\n---\n", "kind: ", "metadata:", "  name: "]
TOKENS += ["items:", "- ", "List", "\n  ", "!!binary ", "2001-13-45", "<<: ", "&a ", "*a", "..."]
YAMLISH = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


def check_load(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "fuzz.yaml")
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            objects, findings = load([path])
        except InvalidParams as exc:
            assert str(exc) and "Traceback" not in str(exc)
            return
    for obj in objects:
        assert isinstance(obj, K8sObject) and obj.kind and obj.name
        assert obj.source.file == "fuzz.yaml" and obj.source.line >= 1
    for finding in findings:
        assert isinstance(finding, Finding) and finding.source.line >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), YAMLISH))
def test_fuzz_load_random_text_never_crashes(text: str) -> None:
    check_load(text)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            JSONISH, st.fixed_dictionaries({"kind": JSONISH, "metadata": JSONISH, "items": JSONISH})
        ),
        max_size=4,
    )
)
def test_fuzz_load_random_documents_never_crashes(docs: list[object]) -> None:
    check_load(yaml.safe_dump_all(docs))


def test_os_error_is_invalid_params(tmp_path: Path) -> None:
    f = write(tmp_path / "secret.yaml", cm("x"))
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    f.chmod(0)
    with pytest.raises(InvalidParams, match="cannot be read"):
        load([f])
