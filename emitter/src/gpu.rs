//! GPU readings, behind a trait so that everything builds and tests without
//! a GPU. The NVML implementation (cargo feature `nvml`, on by default) loads
//! `libnvidia-ml.so` at run time; without it the emitter reports "no GPU"
//! (`gpu_available = false` in heartbeats) and keeps running.
//!
//! Field names follow the OpenTelemetry hardware conventions (`hw.id` is the
//! NVML UUID of the physical device, so several hosts behind one
//! orchestrator address never inflate the GPU count).

use serde::Serialize;

/// Why GPUs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("NVML is not available ({detail}); reporting no GPU")]
    Unavailable { detail: String },
    #[error("reading GPU {index}: {detail}")]
    Read { index: u32, detail: String },
}

/// One device at one moment. A field the driver does not support is `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GpuReading {
    /// `hw.id`: NVML UUID.
    pub uuid: String,
    /// `hw.model`
    pub name: String,
    pub memory_total_bytes: Option<u64>,
    pub memory_used_bytes: Option<u64>,
    /// `hw.gpu.utilization`, percent of time a kernel ran.
    pub utilization_gpu_pct: Option<u32>,
    pub utilization_memory_pct: Option<u32>,
    pub temperature_c: Option<u32>,
    pub power_draw_mw: Option<u32>,
    pub power_limit_mw: Option<u32>,
    pub sm_clock_mhz: Option<u32>,
    pub pcie_rx_kbps: Option<u32>,
    pub pcie_tx_kbps: Option<u32>,
    /// `hw.errors`: uncorrected ECC errors since the driver loaded.
    pub ecc_uncorrected: Option<u64>,
    pub compute_processes: Option<u32>,
    pub driver_version: Option<String>,
    /// CUDA driver API version as NVML reports it (e.g. 12040 for 12.4).
    pub cuda_version: Option<i32>,
}

impl GpuReading {
    /// Every field of this reading, under OpenTelemetry-derived names.
    pub fn fields(&self) -> naap_events::samples::GpuFields {
        let ratio = |p: Option<u32>| p.map(|p| f64::from(p) / 100.0);
        let watts = |mw: Option<u32>| mw.map(|mw| f64::from(mw) / 1000.0);
        let bytes_per_second = |kbps: Option<u32>| kbps.map(|k| f64::from(k) * 1024.0);
        naap_events::samples::GpuFields {
            id: self.uuid.clone(),
            model: Some(self.name.clone()).filter(|n| !n.is_empty()),
            vendor: Some("nvidia".into()),
            driver_version: self.driver_version.clone(),
            cuda_version: self.cuda_version.map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10)),
            utilization: ratio(self.utilization_gpu_pct),
            memory_utilization: ratio(self.utilization_memory_pct),
            memory_usage_bytes: self.memory_used_bytes,
            memory_limit_bytes: self.memory_total_bytes,
            temperature_celsius: self.temperature_c.map(f64::from),
            power_watts: watts(self.power_draw_mw),
            power_limit_watts: watts(self.power_limit_mw),
            sm_clock_mhz: self.sm_clock_mhz.map(f64::from),
            io_receive_bytes_per_second: bytes_per_second(self.pcie_rx_kbps),
            io_transmit_bytes_per_second: bytes_per_second(self.pcie_tx_kbps),
            errors: self.ecc_uncorrected,
            processes: self.compute_processes,
            status: if self.ecc_uncorrected.unwrap_or(0) > 0 {
                "degraded"
            } else {
                "ok"
            }
            .into(),
        }
    }

    /// A complete reading for tests and benchmarks: device `index` of a
    /// fake host, every field set.
    pub fn fake(index: u32) -> GpuReading {
        GpuReading {
            uuid: format!("GPU-00000000-0000-0000-0000-{index:012}"),
            name: "NVIDIA Fake 48GB".into(),
            memory_total_bytes: Some(48 * (1 << 30)),
            memory_used_bytes: Some(u64::from(index + 1) * (1 << 30)),
            utilization_gpu_pct: Some(50 + index),
            utilization_memory_pct: Some(25),
            temperature_c: Some(60 + index),
            power_draw_mw: Some(250_000),
            power_limit_mw: Some(450_000),
            sm_clock_mhz: Some(1980),
            pcie_rx_kbps: Some(1000),
            pcie_tx_kbps: Some(2000),
            ecc_uncorrected: Some(0),
            compute_processes: Some(1),
            driver_version: Some("555.42.06".into()),
            cuda_version: Some(12050),
        }
    }

    /// The telemetry sample for this reading.
    pub fn sample(&self) -> naap_events::telemetry::GpuSample {
        naap_events::telemetry::GpuSample {
            id: self.uuid.clone(),
            model: self.name.clone(),
            utilization: self.utilization_gpu_pct.map(|p| f64::from(p) / 100.0),
            memory_used_bytes: self.memory_used_bytes,
            memory_total_bytes: self.memory_total_bytes,
        }
    }
}

/// Something that can list the GPUs of this host.
pub trait GpuSource: Send {
    fn read(&mut self) -> Result<Vec<GpuReading>, GpuError>;
}

/// A fixed set of devices, for tests and demos.
#[derive(Debug, Clone, Default)]
pub struct FakeGpus {
    pub devices: Vec<GpuReading>,
}

impl GpuSource for FakeGpus {
    fn read(&mut self) -> Result<Vec<GpuReading>, GpuError> {
        Ok(self.devices.clone())
    }
}

/// The host's GPUs through NVML, or `Err(Unavailable)` with the reason.
pub fn open() -> Result<Box<dyn GpuSource>, GpuError> {
    #[cfg(feature = "nvml")]
    {
        nvml::NvmlGpus::open().map(|g| Box::new(g) as Box<dyn GpuSource>)
    }
    #[cfg(not(feature = "nvml"))]
    {
        Err(GpuError::Unavailable {
            detail: "built without the nvml feature".into(),
        })
    }
}

#[cfg(feature = "nvml")]
mod nvml {
    use nvml_wrapper::Nvml;
    use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError, PcieUtilCounter, TemperatureSensor};

    use super::{GpuError, GpuReading, GpuSource};

    pub(super) struct NvmlGpus {
        nvml: Nvml,
    }

    impl NvmlGpus {
        pub(super) fn open() -> Result<Self, GpuError> {
            Nvml::init()
                .map(|nvml| Self { nvml })
                .map_err(|e| GpuError::Unavailable { detail: e.to_string() })
        }
    }

    impl GpuSource for NvmlGpus {
        fn read(&mut self) -> Result<Vec<GpuReading>, GpuError> {
            let count = self.nvml.device_count().map_err(|e| GpuError::Read {
                index: 0,
                detail: e.to_string(),
            })?;
            let driver = self.nvml.sys_driver_version().ok();
            let cuda = self.nvml.sys_cuda_driver_version().ok();
            let mut out = Vec::with_capacity(count as usize);
            for index in 0..count {
                let d = self.nvml.device_by_index(index).map_err(|e| GpuError::Read {
                    index,
                    detail: e.to_string(),
                })?;
                let memory = d.memory_info().ok();
                let util = d.utilization_rates().ok();
                out.push(GpuReading {
                    uuid: d.uuid().map_err(|e| GpuError::Read {
                        index,
                        detail: format!("uuid: {e}"),
                    })?,
                    name: d.name().unwrap_or_default(),
                    memory_total_bytes: memory.as_ref().map(|m| m.total),
                    memory_used_bytes: memory.as_ref().map(|m| m.used),
                    utilization_gpu_pct: util.as_ref().map(|u| u.gpu),
                    utilization_memory_pct: util.as_ref().map(|u| u.memory),
                    temperature_c: d.temperature(TemperatureSensor::Gpu).ok(),
                    power_draw_mw: d.power_usage().ok(),
                    power_limit_mw: d.enforced_power_limit().ok(),
                    sm_clock_mhz: d.clock_info(Clock::SM).ok(),
                    pcie_rx_kbps: d.pcie_throughput(PcieUtilCounter::Receive).ok(),
                    pcie_tx_kbps: d.pcie_throughput(PcieUtilCounter::Send).ok(),
                    ecc_uncorrected: d.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile).ok(),
                    compute_processes: d.running_compute_processes_count().ok(),
                    driver_version: driver.clone(),
                    cuda_version: cuda,
                });
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_devices_map_to_telemetry_samples() {
        let mut gpus = FakeGpus {
            devices: vec![GpuReading {
                uuid: "GPU-1".into(),
                name: "NVIDIA H100".into(),
                utilization_gpu_pct: Some(37),
                memory_used_bytes: Some(1 << 30),
                memory_total_bytes: Some(80 << 30),
                ..Default::default()
            }],
        };
        let sample = gpus.read().unwrap()[0].sample();
        assert_eq!(sample.id, "GPU-1");
        assert_eq!(sample.utilization, Some(0.37));
        assert_eq!(sample.memory_total_bytes, Some(80 << 30));
    }

    #[test]
    fn without_a_gpu_open_says_why() {
        // This machine (and CI) has no NVIDIA driver: open must fail with a
        // reason, never panic. On a GPU host it succeeds.
        match open() {
            Ok(mut g) => assert!(g.read().is_ok()),
            Err(GpuError::Unavailable { detail }) => assert!(!detail.is_empty()),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}
