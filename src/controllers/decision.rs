//! What the pure `decide` function of a cloud kind returns, whatever the provider: the decision vocabulary
//! shared by every reconciler (each kind brings its own `Step`s).

/// The next thing to do about a cloud resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision<S> {
    /// No cloud resource yet: create it.
    Create,
    /// The resource is changing (or in a state that must not be touched): look again later.
    Wait { state: String },
    /// Perform `steps[0]`; `steps` is the whole remaining plan (for progress messages).
    Act { steps: Vec<S> },
    /// Observe-only mode and the cloud differs from the spec: report, never write.
    Differs { steps: Vec<S> },
    /// Everything matches.
    Converged,
}

/// Inputs of a decision beyond the spec and the cloud state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// The desired password differs from the one last applied.
    pub password_differs: bool,
    /// `clouddb.dev/reconcile: observe`.
    pub observe_only: bool,
}

impl<S> Decision<S> {
    /// The plan when the cloud has no such resource: create it, or (observe-only) wait for it to appear.
    pub fn absent(flags: Flags) -> Decision<S> {
        if flags.observe_only {
            Decision::Wait {
                state: "NotFound".into(),
            }
        } else {
            Decision::Create
        }
    }

    /// The plan, given the `steps` needed (empty: converged), respecting observe-only mode.
    pub fn from_steps(steps: Vec<S>, flags: Flags) -> Decision<S> {
        match (steps.is_empty(), flags.observe_only) {
            (true, _) => Decision::Converged,
            (false, true) => Decision::Differs { steps },
            (false, false) => Decision::Act { steps },
        }
    }
}
