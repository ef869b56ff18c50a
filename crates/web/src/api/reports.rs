//! The reports call: `report()` over the range the manager picked.

use super::{Api, ApiResult};
use crate::error::ApiError;
use crate::report::{RangeChoice, Report};

impl Api {
    /// The team's report over `range` (`report()`, admins only).
    pub async fn report(&self, range: &RangeChoice) -> ApiResult<Report> {
        let value = self.rpc("report", &range.to_args()).await?;
        Report::read(&value).ok_or_else(|| ApiError::UnreadableResponse("The report could not be read.".to_owned()))
    }
}
