# Set-up and the two commands of the README.  Everything installs into
# project-local virtual environments; nothing is downloaded at run time.
PYTHON      ?= python3
VENV        ?= .venv
TEST_VENV   ?= .venv-test
# The product runs on the CPU build of torch (installs in seconds here); on a
# GPU machine set TORCH='torch' to let pip choose a CUDA build.
TORCH       ?= torch==2.13.0
# Tests also cover LPIPS (the lpips package needs torchvision), which forces
# the torch build that ships with torchvision.
TEST_TORCH  ?= torch==2.14.1 torchvision==0.29.1
PLUGINS     := $(wildcard plugins/*/pyproject.toml)
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(PLUGINS))
PIP_FLAGS   ?= -q --disable-pip-version-check

.PHONY: setup demo test test-setup clean

$(VENV)/.installed: pyproject.toml $(PLUGINS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) $(TORCH)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e . $(addprefix -e ,$(PLUGIN_DIRS))
	touch $@

setup: $(VENV)/.installed

## The main job on shipped sample data: restore a ×4 downsampled photograph with the
## image plugin's default method (SRDiff, shipped checkpoint, 2 DDIM steps + DDNM).
demo: setup
	$(VENV)/bin/restore plugins
	$(VENV)/bin/restore --plugin image samples/image/astronaut_lr_x4.png -o out/astronaut_x4.png
	@echo "wrote out/astronaut_x4.png (and its resolved config out/astronaut_x4.png.yaml)"
	$(VENV)/bin/restore --plugin mri samples/mri/t2_lr.nii.gz -o out/t2_x2.nii.gz
	@echo "wrote out/t2_x2.nii.gz: the ×2 in-plane R2D2+ restoration of a simulated T2w slab"
	$(VENV)/bin/restore --plugin mri samples/mri/t2_lr.nii.gz --ref samples/mri/t1.nii.gz -o out/t2_ref_x2.nii.gz
	@echo "wrote out/t2_ref_x2.nii.gz: the same slab by DisC-Diff, guided by the T1 (samples/mri/t1.nii.gz)"
	$(VENV)/bin/restore --plugin remote-sensing samples/remote-sensing/landsat_val_96.tif -o out/landsat_val_96_x4.tif
	@echo "wrote out/landsat_val_96_x4.tif: the ×4 DMDC restoration of a held-out Landsat 8 RGB tile (GeoTIFF, CRS kept)"
	$(VENV)/bin/restore --plugin face samples/face/astronaut_degraded.png -o out/astronaut_face_x2.png
	@echo "wrote out/astronaut_face_x2.png: the face detected, aligned, restored by DifFace and pasted into the ×2 photo"
	$(VENV)/bin/restore --plugin turbulence samples/turbulence/coffee_burst.tif -o out/coffee_burst_restored.png
	@echo "wrote out/coffee_burst_restored.png: a 16-frame turbulent burst (multi-page TIFF) fused and restored by AT-DDPM"
	$(VENV)/bin/restore --plugin turbulence samples/turbulence/coffee_clip.mp4 -o out/coffee_clip_restored.mp4
	@echo "wrote out/coffee_clip_restored.mp4: a 24-frame turbulent clip restored frame by frame with its temporal neighbours"

$(TEST_VENV)/.installed: pyproject.toml $(PLUGINS)
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install $(PIP_FLAGS) $(TEST_TORCH)
	$(TEST_VENV)/bin/pip install $(PIP_FLAGS) -e '.[test,lpips]' $(addprefix -e ,$(PLUGIN_DIRS))
	touch $@

test-setup: $(TEST_VENV)/.installed

# LPIPS tests must run here (not skip): the weights come from ../shared/metrics.
# One torch thread per process: test tensors are tiny and threads only contend.
test: test-setup
	RESTORE_REQUIRE_LPIPS=1 RESTORE_LPIPS_WEIGHTS=$(CURDIR)/../shared/metrics/lpips_alex.safetensors \
	OMP_NUM_THREADS=1 $(TEST_VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) $(TEST_VENV) out runs
